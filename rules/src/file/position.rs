//! Source positions: YAML node locations, and mapping an offset inside a rule's expression
//! back to the line and column of the file.
//!
//! An expression is a YAML scalar; its text may differ from its source (quotes, escapes,
//! block indentation, folding). The mapping is exact when the scalar's text appears verbatim
//! in the source (plain and quoted scalars without escapes) or line by line under one
//! indentation (literal `|` blocks); otherwise it falls back to the start of the scalar.
//! Columns are 1-based and count characters, as the YAML parser's do.

use serde_saphyr::Location;

/// A 1-based line and column.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pos {
    /// Line, from 1.
    pub line: u64,
    /// Column in characters, from 1.
    pub col: u64,
}

impl Pos {
    /// The position of a YAML node.
    pub(crate) fn of(l: &Location) -> Pos {
        Pos {
            line: l.line(),
            col: l.column(),
        }
    }

    /// The position of byte `offset` in `text` (clamped to its length and to a char boundary).
    pub fn in_text(text: &str, offset: usize) -> Pos {
        let mut offset = offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &text[..offset];
        let line = 1 + before.matches('\n').count() as u64;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let col = 1 + text[line_start..offset].chars().count() as u64;
        Pos { line, col }
    }
}

impl std::fmt::Display for Pos {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// Where a scalar's text sits in the file.
#[derive(Clone, Debug)]
pub(crate) struct ScalarSource {
    /// Byte offset of the scalar node in the file, if the parser knew it.
    pub byte_offset: Option<usize>,
    /// Byte length of the node in the file.
    pub byte_len: usize,
    /// The node's start.
    pub start: Pos,
}

impl ScalarSource {
    pub(crate) fn of(l: &Location) -> ScalarSource {
        let span = l.span();
        ScalarSource {
            byte_offset: span.byte_offset().map(|b| b as usize),
            byte_len: span.byte_len().unwrap_or(0) as usize,
            start: Pos::of(l),
        }
    }

    /// The file position of byte `offset` of the scalar's value `value`, read from `file`.
    pub(crate) fn map(&self, file: &str, value: &str, offset: usize) -> Pos {
        self.map_exact(file, value, offset)
            .map_or(self.start, |b| Pos::in_text(file, b))
    }

    fn map_exact(&self, file: &str, value: &str, offset: usize) -> Option<usize> {
        let start = self.byte_offset?;
        // The node's source, widened to the end of its last line (block scalars may end
        // before trailing spaces that the value does not contain).
        let end = (start + self.byte_len.max(value.len() + 2)).min(file.len());
        let src = file.get(start..end)?;
        let offset = offset.min(value.len());
        if let Some(i) = src.find(value) {
            return Some(start + i + offset);
        }
        // Literal block: each line of the value is its source line minus the indentation.
        let indent = file[..start].rsplit('\n').next().map(str::len)?;
        let (mut line_in_src, mut consumed) = (start - indent, 0usize);
        for (i, vline) in value.split('\n').enumerate() {
            let sline_end = file[line_in_src..]
                .find('\n')
                .map_or(file.len(), |e| line_in_src + e);
            let sline = &file[line_in_src..sline_end];
            let body = if i == 0 {
                Some(&file[start..sline_end])
            } else {
                sline.get(indent..)
            };
            let body_start = if i == 0 { start } else { line_in_src + indent };
            match body {
                Some(b) if b.starts_with(vline) => {}
                _ if vline.is_empty() => {}
                _ => return None,
            }
            if offset <= consumed + vline.len() {
                return Some(body_start + (offset - consumed));
            }
            consumed += vline.len() + 1;
            if sline_end >= file.len() {
                return None;
            }
            line_in_src = sline_end + 1;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(needle_start: usize, start: Pos) -> ScalarSource {
        ScalarSource {
            byte_offset: Some(needle_start),
            byte_len: 0,
            start,
        }
    }

    #[test]
    fn positions_in_text() {
        assert_eq!(Pos::in_text("abc", 0), Pos { line: 1, col: 1 });
        assert_eq!(Pos::in_text("ab\ncd", 4), Pos { line: 2, col: 2 });
        assert_eq!(Pos::in_text("ab\ncd", 99), Pos { line: 2, col: 3 });
        assert_eq!(Pos::in_text("\u{e9}x", 2), Pos { line: 1, col: 2 });
    }

    #[test]
    fn plain_and_quoted_scalars_map_exactly() {
        let file = "  expr: sum(rate(x[5m]))\n";
        let at = file.find("sum").unwrap();
        let s = src(at, Pos { line: 1, col: 9 });
        assert_eq!(
            s.map(file, "sum(rate(x[5m]))", 4),
            Pos::in_text(file, at + 4)
        );
        let file = "  expr: \"up == 1\"\n";
        let at = file.find('"').unwrap();
        let s = src(at, Pos { line: 1, col: 9 });
        assert_eq!(s.map(file, "up == 1", 3), Pos { line: 1, col: 13 });
    }

    #[test]
    fn literal_blocks_map_line_by_line() {
        let file = "    expr: |\n      sum(\n        rate(y[5m]))\n";
        let at = file.find("sum").unwrap();
        let s = src(at, Pos { line: 2, col: 7 });
        let value = "sum(\n  rate(y[5m]))\n";
        // `rate` is on the second line of the value, at column 3.
        assert_eq!(s.map(file, value, 7), Pos { line: 3, col: 9 });
        assert_eq!(s.map(file, value, 0), Pos { line: 2, col: 7 });
    }

    #[test]
    fn escapes_fall_back_to_the_node() {
        let file = "  expr: \"a\\tb + c\"\n";
        let at = file.find('"').unwrap();
        let start = Pos { line: 1, col: 9 };
        let s = src(at, start);
        assert_eq!(s.map(file, "a\tb + c", 4), start);
    }
}
