//! Reading a process's CPU time and memory from Linux `/proc`.
//!
//! CPU: fields 14 (`utime`) and 15 (`stime`) of `/proc/PID/stat`, in clock ticks (`USER_HZ`,
//! read once with `getconf CLK_TCK`, 100 if that fails). Memory: `VmRSS` and `VmHWM` (peak
//! RSS) of `/proc/PID/status`, in KiB.

use std::path::Path;
use std::sync::OnceLock;

/// CPU and memory of a process at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ProcSample {
    /// User plus system CPU seconds since the process started.
    pub cpu_seconds: f64,
    /// Resident set size in bytes.
    pub rss_bytes: u64,
    /// Peak resident set size in bytes.
    pub peak_rss_bytes: u64,
}

/// Clock ticks per second of `/proc/*/stat` times.
pub fn clock_ticks() -> f64 {
    static TICKS: OnceLock<f64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse::<f64>().ok())
            .filter(|&t| t > 0.0)
            .unwrap_or(100.0)
    })
}

/// `utime + stime` in ticks from the text of `/proc/PID/stat`.
pub fn parse_stat_ticks(stat: &str) -> Result<u64, String> {
    // The command name (field 2) is in parentheses and may hold spaces or ')'.
    let rest = stat
        .rfind(')')
        .map(|i| &stat[i + 1..])
        .ok_or("no ')' in stat")?;
    // After the name: field 3 (state) is index 0, so utime (14) is index 11, stime index 12.
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let get = |i: usize| -> Result<u64, String> {
        fields
            .get(i)
            .and_then(|f| f.parse().ok())
            .ok_or_else(|| format!("stat field {} missing or invalid", i + 3))
    };
    Ok(get(11)? + get(12)?)
}

/// A `Key:   1234 kB` line of `/proc/PID/status`, in bytes.
pub fn parse_status_kb(status: &str, key: &str) -> Option<u64> {
    status.lines().find_map(|l| {
        let rest = l.strip_prefix(key)?.strip_prefix(':')?;
        let kb: u64 = rest.trim().trim_end_matches("kB").trim().parse().ok()?;
        Some(kb * 1024)
    })
}

/// Samples process `pid`.
pub fn sample(pid: u32) -> Result<ProcSample, String> {
    sample_path(&Path::new("/proc").join(pid.to_string()))
}

/// Samples the calling process.
pub fn sample_self() -> Result<ProcSample, String> {
    sample_path(Path::new("/proc/self"))
}

fn sample_path(dir: &Path) -> Result<ProcSample, String> {
    let stat = std::fs::read_to_string(dir.join("stat"))
        .map_err(|e| format!("cannot read {}/stat: {e}", dir.display()))?;
    let status = std::fs::read_to_string(dir.join("status"))
        .map_err(|e| format!("cannot read {}/status: {e}", dir.display()))?;
    Ok(ProcSample {
        cpu_seconds: parse_stat_ticks(&stat)? as f64 / clock_ticks(),
        rss_bytes: parse_status_kb(&status, "VmRSS").ok_or("no VmRSS in status")?,
        peak_rss_bytes: parse_status_kb(&status, "VmHWM").ok_or("no VmHWM in status")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_odd_command_name() {
        let stat = "1234 (we ird) name)) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 \
                    8 0 100 1000 200 18446744073709551615";
        assert_eq!(parse_stat_ticks(stat).unwrap(), 325);
        assert!(parse_stat_ticks("1234 (x) S 1").is_err());
        assert!(parse_stat_ticks("garbage").is_err());
    }

    #[test]
    fn status_lines() {
        let s = "Name:\tx\nVmHWM:\t  2048 kB\nVmRSS:\t   1024 kB\n";
        assert_eq!(parse_status_kb(s, "VmRSS"), Some(1024 * 1024));
        assert_eq!(parse_status_kb(s, "VmHWM"), Some(2048 * 1024));
        assert_eq!(parse_status_kb(s, "VmSwap"), None);
    }

    #[test]
    fn own_process() {
        let s = sample_self().unwrap();
        assert!(s.rss_bytes > 0 && s.peak_rss_bytes >= s.rss_bytes);
        assert!(sample(u32::MAX).is_err());
    }
}
