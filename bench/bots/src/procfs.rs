//! CPU time and resident memory of a process, from `/proc` (Linux).

use std::time::Instant;

/// Clock ticks per second of `/proc/<pid>/stat` times.
fn ticks_per_second() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as f64 } else { 100.0 }
}

/// User + system CPU seconds of `pid` (all its threads); `None` for `self` is never returned.
pub fn cpu_seconds(pid: Option<u32>) -> Option<f64> {
    let path = match pid {
        Some(p) => format!("/proc/{p}/stat"),
        None => "/proc/self/stat".to_owned(),
    };
    let text = std::fs::read_to_string(path).ok()?;
    // The command name (field 2) is in parentheses and may contain spaces: split after it.
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: field 3 (state) is index 0, so utime (14) is 11 and stime (15) is 12.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / ticks_per_second())
}

/// Resident set size of `pid` in KiB (`VmRSS` of `/proc/<pid>/status`).
pub fn rss_kib(pid: Option<u32>) -> Option<u64> {
    let path = match pid {
        Some(p) => format!("/proc/{p}/status"),
        None => "/proc/self/status".to_owned(),
    };
    let text = std::fs::read_to_string(path).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// Summed `VmRSS` of several processes, KiB (`None` when there are none or one is gone).
pub fn rss_kib_sum(pids: &[u32]) -> Option<u64> {
    if pids.is_empty() {
        return None;
    }
    pids.iter().map(|&p| rss_kib(Some(p))).sum()
}

/// A CPU-time reading, to compute a utilisation over an interval.
#[derive(Clone, Copy, Debug)]
pub struct CpuMark {
    at: Instant,
    seconds: Option<f64>,
}

impl CpuMark {
    /// Reads the CPU time of `pid` (`None`: this process) now.
    pub fn now(pid: Option<u32>) -> CpuMark {
        CpuMark {
            at: Instant::now(),
            seconds: cpu_seconds(pid),
        }
    }

    /// CPU use between `self` and `later`, in percent of one core (200 % = two cores busy).
    pub fn percent_until(&self, later: &CpuMark) -> Option<f64> {
        let wall = later.at.duration_since(self.at).as_secs_f64();
        match (self.seconds, later.seconds) {
            (Some(a), Some(b)) if wall > 0.0 => Some((b - a) / wall * 100.0),
            _ => None,
        }
    }
}

/// Busy CPU seconds of the whole machine (all cores: everything but idle and iowait), from
/// `/proc/stat`.
pub fn machine_busy_seconds() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<f64> = line.split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
    // user nice system idle iowait irq softirq steal ...
    let busy: f64 = v
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 3 && *i != 4)
        .map(|(_, x)| x)
        .sum();
    Some(busy / ticks_per_second())
}

/// The 1-minute load average.
pub fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}
