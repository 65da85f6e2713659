//! Messages to stderr: warnings always, more with -v. A tiny logger so
//! start-up stays fast (a `dhcpnet lease` process lives a few milliseconds).

use log::{Level, LevelFilter, Log, Metadata, Record};

struct Stderr;

impl Log for Stderr {
    fn enabled(&self, m: &Metadata<'_>) -> bool {
        m.level() <= log::max_level()
    }
    fn log(&self, r: &Record<'_>) {
        if self.enabled(r.metadata()) {
            let tag = match r.level() {
                Level::Error => "error",
                Level::Warn => "warning",
                Level::Info => "info",
                Level::Debug => "debug",
                Level::Trace => "trace",
            };
            eprintln!("dhcpnet: {tag}: {}", r.args());
        }
    }
    fn flush(&self) {}
}

static LOGGER: Stderr = Stderr;

/// 0: warnings and errors; 1: info; 2: debug; 3+: trace.
pub fn init(verbosity: u8, quiet: bool) {
    let level = match (quiet, verbosity) {
        (true, _) => LevelFilter::Error,
        (false, 0) => LevelFilter::Warn,
        (false, 1) => LevelFilter::Info,
        (false, 2) => LevelFilter::Debug,
        _ => LevelFilter::Trace,
    };
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(level);
}

/// A log rate limit for messages a remote host or a local user can cause
/// at will (forged DHCP replies, refused plugin connections): at most
/// `burst` messages per `period`; past that, messages are counted, and the
/// first one let through again says how many were left out. Without it a
/// flood of forged packets becomes a flood of log lines (disk, journald's
/// own rate limit hiding the lines that matter, CPU).
#[derive(Debug, Clone)]
pub struct Throttle {
    burst: u32,
    period: std::time::Duration,
    window: Option<std::time::Instant>,
    sent: u32,
    left_out: u64,
}

impl Throttle {
    pub const fn new(burst: u32, period: std::time::Duration) -> Throttle {
        Throttle {
            burst,
            period,
            window: None,
            sent: 0,
            left_out: 0,
        }
    }

    /// Whether a message may be logged now: `Some(n)` with the number of
    /// messages left out since the last one logged (to say in it), `None`
    /// when this one must be left out.
    pub fn allow(&mut self) -> Option<u64> {
        self.allow_at(std::time::Instant::now())
    }

    /// `allow` at `now` (pure, for tests).
    pub fn allow_at(&mut self, now: std::time::Instant) -> Option<u64> {
        let fresh = match self.window {
            Some(start) => now.saturating_duration_since(start) >= self.period,
            None => true,
        };
        if fresh {
            self.window = Some(now);
            self.sent = 0;
        }
        if self.sent >= self.burst {
            self.left_out = self.left_out.saturating_add(1);
            return None;
        }
        self.sent += 1;
        Some(std::mem::take(&mut self.left_out))
    }

    /// Messages left out and not yet reported by a later one.
    pub fn left_out(&self) -> u64 {
        self.left_out
    }
}

/// " (N similar messages left out)" after a throttled message, or nothing.
pub fn left_out_note(n: u64) -> String {
    match n {
        0 => String::new(),
        1 => " (1 similar message left out)".into(),
        n => format!(" ({n} similar messages left out)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn a_throttle_lets_a_burst_through_then_counts_until_the_period_ends() {
        let mut t = Throttle::new(3, Duration::from_secs(10));
        let t0 = Instant::now();
        assert_eq!(t.allow_at(t0), Some(0));
        assert_eq!(t.allow_at(t0), Some(0));
        assert_eq!(t.allow_at(t0 + Duration::from_secs(1)), Some(0));
        for _ in 0..1000 {
            assert_eq!(t.allow_at(t0 + Duration::from_secs(2)), None);
        }
        assert_eq!(t.left_out(), 1000);
        // The next period: the first message says what was left out.
        assert_eq!(t.allow_at(t0 + Duration::from_secs(10)), Some(1000));
        assert_eq!(t.allow_at(t0 + Duration::from_secs(10)), Some(0));
        assert_eq!(left_out_note(0), "");
        assert_eq!(left_out_note(2), " (2 similar messages left out)");
    }
}
