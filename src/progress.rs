//! Progress of the phases that can take long (LIST, create, eager population of paths, verify,
//! push, pull, export, import), on stderr only: a bar on a terminal, otherwise a plain line
//! every few seconds (`SAI3_PROGRESS_INTERVAL_MS`, 5000 by default). Nothing at all with `--quiet` or `--json`.
//!
//! A command starts one [`Reporter`] with a function that reads its counters (atomics the
//! work updates) into a [`Status`]; dropping the reporter stops it at once.

use std::io::IsTerminal;
use std::sync::mpsc::{RecvTimeoutError, Sender, channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Environment variable: milliseconds between plain progress lines (not on a terminal).
pub const INTERVAL_ENV: &str = "SAI3_PROGRESS_INTERVAL_MS";

/// Default time between plain progress lines.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);

/// How often the bar is redrawn.
const BAR_TICK: Duration = Duration::from_millis(200);

/// What is being counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Objects written.
    Objects,
    /// Keys listed.
    Keys,
    /// Bytes moved.
    Bytes,
    /// Ranges listed again and objects checked.
    Checks,
}

impl Unit {
    fn name(self) -> &'static str {
        match self {
            Unit::Objects => "objects written",
            Unit::Keys => "keys",
            Unit::Bytes => "bytes",
            Unit::Checks => "checks",
        }
    }

    fn amount(self, n: f64) -> String {
        match self {
            Unit::Bytes => bytes(n),
            _ => format!("{}", n.round() as u64),
        }
    }
}

/// Where a command is.
#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    /// The phase (`listing`, `creating`, `pushing caches`, ...).
    pub phase: String,
    /// Done so far.
    pub done: u64,
    /// In all (0: not known yet).
    pub total: u64,
    /// What `done` and `total` count.
    pub unit: Unit,
    /// More to say (`, 3/8 ranges`), appended as is.
    pub detail: String,
}

impl Status {
    /// A status with nothing more to say.
    pub fn of(phase: &str, done: u64, total: u64, unit: Unit) -> Self {
        Status {
            phase: phase.to_owned(),
            done,
            total,
            unit,
            detail: String::new(),
        }
    }

    /// The text after the phase: `120/500 objects (40/s), ...`.
    fn counts(&self, per_s: Option<f64>) -> String {
        let u = self.unit;
        let amount = match (self.total, u) {
            (0, Unit::Bytes) => u.amount(self.done as f64),
            (0, _) => format!("{} {}", self.done, u.name()),
            (t, Unit::Bytes) => format!("{} of {}", u.amount(self.done as f64), bytes(t as f64)),
            (t, _) => format!("{}/{t} {}", self.done, u.name()),
        };
        let rate = match per_s {
            Some(r) if u == Unit::Bytes => format!(" ({}/s)", bytes(r)),
            Some(r) => format!(" ({}/s)", u.amount(r)),
            None => String::new(),
        };
        format!("{amount}{rate}{}", self.detail)
    }
}

/// The status of pushes or pulls in `phase`: bytes, with files as detail.
pub fn transfer(phase: &str, t: &cache_sai3::sync::Transfer) -> Status {
    let [files_done, files_total, bytes_done, bytes_total] = t.snapshot();
    Status {
        detail: format!(", {files_done}/{files_total} files"),
        ..Status::of(phase, bytes_done, bytes_total, Unit::Bytes)
    }
}

/// `1.5 MiB`.
fn bytes(n: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n.max(0.0);
    let mut i = 0;
    while v >= 1024.0 && i + 1 < UNITS.len() {
        v /= 1024.0;
        i += 1;
    }
    match i {
        0 => format!("{} B", v.round() as u64),
        _ => format!("{v:.1} {}", UNITS[i]),
    }
}

/// The time between plain lines: [`INTERVAL_ENV`] if set to a number of milliseconds.
fn line_interval() -> Duration {
    std::env::var(INTERVAL_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map_or(DEFAULT_INTERVAL, |ms| Duration::from_millis(ms.max(1)))
}

/// A running progress display; dropping it ends the display (and clears the bar).
pub struct Reporter {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Reporter {
    /// Starts reporting what `read` says, if `enabled` (not `--quiet`, not `--json`).
    pub fn start(enabled: bool, read: impl Fn() -> Status + Send + 'static) -> Self {
        if !enabled {
            return Reporter {
                stop: None,
                thread: None,
            };
        }
        let (stop, stopped) = channel::<()>();
        let thread = std::thread::spawn(move || {
            let mut display = Display::new(std::io::stderr().is_terminal());
            while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(display.tick) {
                display.show(&read());
            }
            display.finish();
        });
        Reporter {
            stop: Some(stop),
            thread: Some(thread),
        }
    }
}

impl Drop for Reporter {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The bar or the plain lines, and what the rate is measured from.
struct Display {
    bar: Option<indicatif::ProgressBar>,
    tick: Duration,
    interval: Duration,
    /// Phase, count and time of the last line (or the phase's start).
    last: Option<(String, u64, Instant)>,
}

impl Display {
    fn new(terminal: bool) -> Self {
        let interval = line_interval();
        let bar = terminal.then(|| {
            let b = indicatif::ProgressBar::new(0);
            b.set_style(
                indicatif::ProgressStyle::with_template("{prefix:>15} [{bar:30}] {msg}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            b
        });
        Display {
            tick: if terminal { BAR_TICK } else { interval },
            bar,
            interval,
            last: None,
        }
    }

    /// The rate since the last line of the same phase, and that line's time.
    fn rate(&mut self, s: &Status) -> (Option<f64>, bool) {
        let now = Instant::now();
        match &self.last {
            Some((phase, done, at)) if *phase == s.phase => {
                let elapsed = now.duration_since(*at);
                let due = elapsed >= self.interval;
                let rate = s.done.saturating_sub(*done) as f64 / elapsed.as_secs_f64().max(1e-3);
                if due {
                    self.last = Some((s.phase.clone(), s.done, now));
                }
                (Some(rate), due)
            }
            _ => {
                self.last = Some((s.phase.clone(), s.done, now));
                (None, self.bar.is_none())
            }
        }
    }

    fn show(&mut self, s: &Status) {
        let (rate, due) = self.rate(s);
        match &self.bar {
            Some(b) => {
                b.set_prefix(s.phase.clone());
                b.set_length(s.total);
                b.set_position(s.done.min(s.total));
                b.set_message(s.counts(rate));
            }
            None if due => eprintln!("  {}: {}", s.phase, s.counts(rate)),
            None => {}
        }
    }

    fn finish(self) {
        if let Some(b) = self.bar {
            b.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_read_as_a_line() {
        let mut s = Status::of("listing", 12_345, 0, Unit::Keys);
        s.detail = ", 3/8 ranges".into();
        assert_eq!(s.counts(Some(4_321.4)), "12345 keys (4321/s), 3/8 ranges");
        let b = Status::of("pushing caches", 3 << 20, 8 << 20, Unit::Bytes);
        assert_eq!(b.counts(None), "3.0 MiB of 8.0 MiB");
        assert_eq!(
            Status::of("creating", 5, 9, Unit::Objects).counts(None),
            "5/9 objects written"
        );
    }
}
