//! Plain-text tables as kubectl prints them (left-aligned columns, three spaces apart), cells
//! optionally coloured, and ages as kubectl writes them. Pure: builds strings, no I/O.

use k8s_openapi::jiff::Timestamp;

/// How a cell reads: coloured only when the output is a terminal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Tone {
    /// No colour.
    Plain,
    /// Green: finished well.
    Good,
    /// Yellow: waiting, held, in flight.
    Warn,
    /// Red: failed, not reporting.
    Bad,
}

/// One cell of a table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Cell {
    pub(crate) text: String,
    pub(crate) tone: Tone,
}

impl Cell {
    /// A cell without colour.
    pub(crate) fn plain(text: impl Into<String>) -> Self {
        Self::toned(text, Tone::Plain)
    }
    /// A cell with a tone.
    pub(crate) fn toned(text: impl Into<String>, tone: Tone) -> Self {
        Self {
            text: text.into(),
            tone,
        }
    }
}

/// Appends a table with `headers` and `rows` to `out`: columns padded to their widest cell,
/// three spaces apart, no trailing spaces; with `colour`, toned cells are wrapped in ANSI
/// colour codes (after padding, so columns stay aligned).
pub(crate) fn render(out: &mut String, headers: &[&str], rows: &[Vec<Cell>], colour: bool) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.text.chars().count());
            }
        }
    }
    let header: Vec<Cell> = headers.iter().map(|h| Cell::plain(*h)).collect();
    for row in std::iter::once(&header).chain(rows) {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            let last = i + 1 == row.len();
            let pad = if last {
                0
            } else {
                widths
                    .get(i)
                    .copied()
                    .unwrap_or_default()
                    .saturating_sub(cell.text.chars().count())
                    + 3
            };
            line.push_str(&paint(&cell.text, cell.tone, colour));
            line.extend(std::iter::repeat_n(' ', pad));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
}

/// `text` in the colour of `tone` when `colour` is on.
pub(crate) fn paint(text: &str, tone: Tone, colour: bool) -> String {
    let code = match tone {
        Tone::Plain => return text.to_owned(),
        Tone::Good => "32",
        Tone::Warn => "33",
        Tone::Bad => "31",
    };
    if colour {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_owned()
    }
}

/// How long ago `then` was, as kubectl's AGE column writes it: `45s`, `12m`, `5h`, `3d`
/// (`0s` for a time in the future).
pub(crate) fn age(then: Timestamp, now: Timestamp) -> String {
    let secs = now.duration_since(then).as_secs().max(0);
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 120 * 60 => format!("{}m", s / 60),
        s if s < 48 * 3600 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

#[cfg(test)]
mod tests;
