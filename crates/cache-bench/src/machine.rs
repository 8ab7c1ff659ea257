//! The machine a run was made on, from `/proc` and `uname`: figures only compare within it.

use std::path::Path;
use std::process::Command;

use crate::record::Machine;

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn output(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

/// The machine, with the file system of `work`.
pub fn describe(work: &Path, quick: bool) -> Machine {
    let cpuinfo = read("/proc/cpuinfo");
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map(|s| s.trim().to_owned())
        .unwrap_or_default();
    let memory_kib: f64 = read("/proc/meminfo")
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0.0);
    let work = work.display().to_string();
    let disk = output("df", &["--output=fstype,source", &work])
        .lines()
        .nth(1)
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" on "))
        .unwrap_or_default();
    Machine {
        cpus: std::thread::available_parallelism().map_or(1, usize::from),
        cpu,
        memory_gib: memory_kib / (1024.0 * 1024.0),
        kernel: output("uname", &["-r"]),
        disk,
        started: output("date", &["-u", "+%Y-%m-%dT%H:%M:%SZ"]),
        quick,
    }
}
