//! The `strata` command line, parsed by hand (a handful of flags does not need a parser
//! crate).
//!
//! ```text
//! strata serve [--listen ADDR] [--data-dir DIR] [--config FILE]
//! strata --help | --version
//! ```
//! Flags accept `--flag value` and `--flag=value`, and override the config file.

use std::path::PathBuf;

use crate::config::Config;
use crate::error::{Error, Result};

/// What the command line asks for.
#[derive(Debug)]
pub enum Command {
    /// Print usage.
    Help,
    /// Print the version.
    Version,
    /// Run the server with this configuration.
    Serve(Box<Config>),
}

/// Usage text for `--help`.
pub const USAGE: &str = "\
strata - a time-series metrics store (Prometheus remote-write in, PromQL out)

Usage:
  strata serve [--listen ADDR] [--data-dir DIR] [--config FILE]
  strata --help
  strata --version

Options for serve:
  --listen ADDR     address to listen on (default 127.0.0.1:9201; port 0 picks a free port)
  --data-dir DIR    data directory (default ./data)
  --config FILE     YAML configuration file; flags override it

Configuration file keys (all optional):
  listen, data_dir, shutdown_timeout,
  limits: {max_body_bytes, max_decoded_bytes, max_inflight_writes, write_queue_wait,
           max_form_bytes, body_timeout, max_labels_per_series,
           max_label_name_bytes, max_label_value_bytes, max_future},
  wal: {fsync: always|interval, fsync_interval},
  query: {timeout, max_concurrent, max_samples, lookback_delta},
  auth: {bearer_token | bearer_token_file, username, password}
Durations use Prometheus syntax: 100ms, 30s, 2m, 1h.
";

/// Parses the arguments after the program name.
pub fn parse(args: &[String]) -> Result<Command> {
    let mut it = args.iter();
    let Some(first) = it.next() else {
        return Err(Error::Config(format!("missing command\n\n{USAGE}")));
    };
    match first.as_str() {
        "-h" | "--help" | "help" => return Ok(Command::Help),
        "-V" | "--version" | "version" => return Ok(Command::Version),
        "serve" => {}
        other => {
            return Err(Error::Config(format!(
                "unknown command {other:?}; try `strata --help`"
            )))
        }
    }
    let mut listen = None;
    let mut data_dir = None;
    let mut config_file = None;
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
            _ => (arg.as_str(), None),
        };
        if matches!(flag, "-h" | "--help") {
            return Ok(Command::Help);
        }
        let mut value = || -> Result<String> {
            match inline.clone() {
                Some(v) => Ok(v),
                None => it
                    .next()
                    .cloned()
                    .ok_or_else(|| Error::Config(format!("flag {flag} needs a value"))),
            }
        };
        match flag {
            "--listen" => listen = Some(value()?),
            "--data-dir" => data_dir = Some(PathBuf::from(value()?)),
            "--config" => config_file = Some(PathBuf::from(value()?)),
            other => {
                return Err(Error::Config(format!(
                    "unknown flag {other:?}; try `strata --help`"
                )))
            }
        }
    }
    let mut config = match config_file {
        Some(f) => Config::from_file(&f)?,
        None => Config::default(),
    };
    if let Some(l) = listen {
        config.listen = l;
    }
    if let Some(d) = data_dir {
        config.data_dir = d;
    }
    Ok(Command::Serve(Box::new(config)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn serve_defaults_and_flags() {
        let Command::Serve(c) = parse(&args("serve")).unwrap() else {
            panic!("not serve")
        };
        assert_eq!(c.listen, "127.0.0.1:9201");
        let Command::Serve(c) =
            parse(&args("serve --listen 127.0.0.1:0 --data-dir=/tmp/d")).unwrap()
        else {
            panic!("not serve")
        };
        assert_eq!(c.listen, "127.0.0.1:0");
        assert_eq!(c.data_dir, PathBuf::from("/tmp/d"));
    }

    #[test]
    fn help_version_and_errors() {
        assert!(matches!(parse(&args("--help")).unwrap(), Command::Help));
        assert!(matches!(parse(&args("serve -h")).unwrap(), Command::Help));
        assert!(matches!(
            parse(&args("--version")).unwrap(),
            Command::Version
        ));
        assert!(parse(&args("")).is_err());
        assert!(parse(&args("frobnicate")).is_err());
        assert!(parse(&args("serve --listen")).is_err());
        assert!(parse(&args("serve --bogus 1")).is_err());
        assert!(parse(&args("serve --config /nonexistent/strata.yml")).is_err());
    }
}
