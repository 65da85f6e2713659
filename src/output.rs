//! Rendering results: a table for people, JSON or YAML for scripts.
//! Data goes to stdout; messages go to stderr (see `logging`).

use std::io::{ErrorKind, Write};

use clap::ValueEnum;
use comfy_table::{ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};
use serde::Serialize;

use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Format {
    #[default]
    Table,
    Json,
    Yaml,
}

/// Print `value` as JSON or YAML, or call `table` to print it for a person.
pub fn emit<T: Serialize + ?Sized>(
    format: Format,
    value: &T,
    table: impl FnOnce() -> String,
) -> Result<()> {
    let text = match format {
        Format::Table => table(),
        Format::Json => serde_json::to_string_pretty(value)
            .map_err(|e| Error::Other(format!("cannot encode JSON: {e}")))?,
        Format::Yaml => serde_yaml_ng::to_string(value)
            .map_err(|e| Error::Other(format!("cannot encode YAML: {e}")))?
            .trim_end()
            .to_string(),
    };
    write_stdout(format!("{text}\n").as_bytes())
}

/// Write `bytes` to stdout. A reader that went away (`dhcpnet leases -o json
/// | head -1`) ends the output quietly: a broken pipe is not an error.
pub fn write_stdout(bytes: &[u8]) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() != ErrorKind::BrokenPipe => {
            Err(Error::Other(format!("cannot write to stdout: {e}")))
        }
        _ => Ok(()),
    }
}

/// A table with dhcpnet's look.
pub fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_style(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic);
    t.set_header(header.to_vec());
    t
}

/// A two-column key/value table.
pub fn kv_table(rows: &[(&str, String)]) -> String {
    let mut t = Table::new();
    t.load_style(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic);
    for (k, v) in rows {
        t.add_row(vec![k.to_string(), v.clone()]);
    }
    t.to_string()
}

pub fn opt<T: std::fmt::Display>(v: &Option<T>) -> String {
    v.as_ref()
        .map(|x| x.to_string())
        .unwrap_or_else(|| "-".into())
}

pub fn list<T: std::fmt::Display>(v: &[T]) -> String {
    if v.is_empty() {
        "-".into()
    } else {
        v.iter()
            .map(|x| x.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// "1h 2m 3s" for a number of seconds; "infinite" for None.
pub fn duration(secs: Option<i64>) -> String {
    match secs {
        None => "infinite".into(),
        Some(s) if s <= 0 => "expired".into(),
        Some(s) => {
            let (d, h, m, s) = (s / 86400, s / 3600 % 24, s / 60 % 60, s % 60);
            let mut out = String::new();
            if d > 0 {
                out += &format!("{d}d ");
            }
            if d > 0 || h > 0 {
                out += &format!("{h}h ");
            }
            if d > 0 || h > 0 || m > 0 {
                out += &format!("{m}m ");
            }
            out += &format!("{s}s");
            out
        }
    }
}

/// Report one step of a multi-step operation on stderr (not with --quiet).
pub fn step(msg: &str) {
    if log::max_level() >= log::LevelFilter::Warn {
        eprintln!("dhcpnet: {msg}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration(None), "infinite");
        assert_eq!(duration(Some(-3)), "expired");
        assert_eq!(duration(Some(59)), "59s");
        assert_eq!(duration(Some(3661)), "1h 1m 1s");
        assert_eq!(duration(Some(90061)), "1d 1h 1m 1s");
    }
}
