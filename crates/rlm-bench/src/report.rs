//! The report: a header (date, machine, latency, commit, duration), a Markdown table with one
//! row per scenario, and the errors below it. Rendering is a pure function of [`Report`].

use std::fmt::Write as _;
use std::time::Duration;

const MIB: f64 = 1024.0 * 1024.0;

/// The machine the bench ran on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Machine {
    /// `nproc`: CPUs this process may use.
    pub nproc: usize,
    /// The first `model name` of `/proc/cpuinfo`.
    pub cpu: String,
    /// The 1, 5 and 15 minute load averages of `/proc/loadavg` when the bench started: other
    /// work on the machine skews wall times.
    pub load: Option<String>,
}

impl Machine {
    /// Reads the CPU count and model.
    pub fn detect() -> Machine {
        let nproc = std::thread::available_parallelism().map_or(1, |n| n.get());
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|text| cpu_model(&text))
            .unwrap_or_else(|| "unknown CPU".to_owned());
        let load = std::fs::read_to_string("/proc/loadavg")
            .ok()
            .map(|text| {
                text.split_whitespace()
                    .take(3)
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .filter(|load| !load.is_empty());
        Machine { nproc, cpu, load }
    }
}

/// The first `model name` line of a `/proc/cpuinfo` text.
pub fn cpu_model(cpuinfo: &str) -> Option<String> {
    cpuinfo.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (key.trim() == "model name").then(|| value.trim().to_owned())
    })
}

/// How a scenario went against its goal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Fail,
    /// The goal cannot be judged (an ideal of zero, no RSS reading).
    Unknown,
}

/// What one run of the CLI measured.
#[derive(Debug, Clone, PartialEq)]
pub struct Measurement {
    pub wall: Duration,
    /// The runtime's own `duration_ms` from `--json`.
    pub run: Option<Duration>,
    pub peak_rss: Option<u64>,
    pub requests: u64,
    pub expected_requests: u64,
    pub peak_concurrency: usize,
    /// The critical path's widest point.
    pub expected_concurrency: u64,
    /// What was wrong with the answer (`None`: it was the expected one).
    pub wrong_answer: Option<String>,
    pub verdict: Verdict,
}

/// One row of the table.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub scenario: String,
    pub ideal: Duration,
    pub goal: String,
    /// `Err` when the CLI could not run or failed (the message goes below the table).
    pub result: Result<Measurement, String>,
}

impl Row {
    /// A wrong answer or a failed CLI: what makes the bench exit non-zero.
    pub fn is_error(&self) -> bool {
        !self.result.as_ref().is_ok_and(|m| m.wrong_answer.is_none())
    }

    /// A missed goal (only fatal with `--strict`).
    pub fn missed_goal(&self) -> bool {
        self.result
            .as_ref()
            .is_ok_and(|m| m.verdict == Verdict::Fail)
    }
}

/// Everything the report shows.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// `YYYY-MM-DD HH:MM UTC`.
    pub date: String,
    pub machine: Machine,
    pub latency: Duration,
    /// `git describe --always --dirty`, when git answers.
    pub commit: Option<String>,
    pub rows: Vec<Row>,
    /// The scenarios' time (context generation included) and the CLI build's.
    pub scenarios_took: Duration,
    pub build_took: Duration,
    /// Problems to list under the table (wrong answers, CLI failures).
    pub errors: Vec<String>,
}

/// The report as Markdown.
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = write_report(&mut out, report);
    out
}

fn write_report(out: &mut String, r: &Report) -> std::fmt::Result {
    writeln!(out, "## cargo xtask bench")?;
    writeln!(out)?;
    writeln!(out, "- date: {}", r.date)?;
    write!(
        out,
        "- machine: {} (nproc {})",
        r.machine.cpu, r.machine.nproc
    )?;
    match &r.machine.load {
        Some(load) => writeln!(out, ", load average {load} at the start")?,
        None => writeln!(out)?,
    }
    writeln!(
        out,
        "- LLM latency: {} ms per request (fake OpenAI-compatible server on 127.0.0.1, in the rlm-bench process)",
        r.latency.as_millis()
    )?;
    if let Some(commit) = &r.commit {
        writeln!(out, "- commit: {commit}")?;
    }
    writeln!(
        out,
        "- took: {} (scenarios) + {} (release build of rlm-cli)",
        secs(r.scenarios_took),
        secs(r.build_took)
    )?;
    writeln!(out)?;
    writeln!(
        out,
        "| scenario | answer | wall | CLI run | ideal | wall/ideal | peak RSS | requests | peak concurrency | goal | result |"
    )?;
    writeln!(out, "|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|")?;
    for row in &r.rows {
        writeln!(out, "{}", table_row(row))?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "ideal = sequential LLM round-trips on the critical path × latency (a pool of sub-calls of \
         different costs, as in latency-tail and fault-mix: max(Σ costs / workers, slowest), \
         retry waits included); wall = spawn to exit of \
         `rlm run --json --quiet` (process start and context load included); CLI run = the \
         runtime's own `duration_ms`; peak RSS = the largest `VmHWM` polled every 10 ms."
    )?;
    if !r.errors.is_empty() {
        writeln!(out)?;
        writeln!(out, "### Errors")?;
        writeln!(out)?;
        for error in &r.errors {
            writeln!(out, "- {}", cell(error))?;
        }
    }
    Ok(())
}

/// One table line.
pub fn table_row(row: &Row) -> String {
    let ideal = ms(row.ideal);
    let cells: Vec<String> = match &row.result {
        Ok(m) => {
            let ratio = super::ideal::ratio(m.wall, row.ideal)
                .map_or_else(|| "n/a".to_owned(), |r| format!("{r:.2}×"));
            let requests = expected(m.requests, m.expected_requests);
            vec![
                row.scenario.clone(),
                if m.wrong_answer.is_none() {
                    "ok"
                } else {
                    "WRONG"
                }
                .to_owned(),
                ms(m.wall),
                m.run.map_or_else(|| "n/a".to_owned(), ms),
                ideal,
                ratio,
                m.peak_rss.map_or_else(
                    || "n/a".to_owned(),
                    |b| format!("{:.1} MiB", b as f64 / MIB),
                ),
                requests,
                expected(m.peak_concurrency as u64, m.expected_concurrency),
                row.goal.clone(),
                match (&m.wrong_answer, m.verdict) {
                    (Some(_), _) => "FAIL (wrong answer)",
                    (None, Verdict::Pass) => "PASS",
                    (None, Verdict::Fail) => "FAIL",
                    (None, Verdict::Unknown) => "n/a",
                }
                .to_owned(),
            ]
        }
        Err(_) => {
            let dash = || "–".to_owned();
            vec![
                row.scenario.clone(),
                "CLI FAILED".to_owned(),
                dash(),
                dash(),
                ideal,
                dash(),
                dash(),
                dash(),
                dash(),
                row.goal.clone(),
                "FAIL (error)".to_owned(),
            ]
        }
    };
    let cells: Vec<String> = cells.iter().map(|c| cell(c)).collect();
    format!("| {} |", cells.join(" | "))
}

/// `n`, or `n (expected e)` when they differ.
fn expected(n: u64, e: u64) -> String {
    if n == e {
        n.to_string()
    } else {
        format!("{n} (expected {e})")
    }
}

/// Text safe inside a table cell: one line, no bare `|`.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\r', '\n'], " ")
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

/// `YYYY-MM-DD HH:MM UTC` for seconds since the Unix epoch (the civil-from-days algorithm of
/// Howard Hinnant's `chrono`-compatible date library).
pub fn utc_date(unix_secs: u64) -> String {
    let days = unix_secs / 86_400;
    let rem = unix_secs % 86_400;
    let (hour, minute) = (rem / 3600, (rem % 3600) / 60);
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {hour:02}:{minute:02} UTC")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measurement() -> Measurement {
        Measurement {
            wall: Duration::from_millis(270),
            run: Some(Duration::from_millis(255)),
            peak_rss: Some(12 * 1024 * 1024 + 512 * 1024),
            requests: 257,
            expected_requests: 257,
            peak_concurrency: 64,
            expected_concurrency: 64,
            wrong_answer: None,
            verdict: Verdict::Pass,
        }
    }

    fn row(result: Result<Measurement, String>) -> Row {
        Row {
            scenario: "fanout-256".into(),
            ideal: Duration::from_millis(250),
            goal: "wall ≤ 1.15× ideal, 64 in flight".into(),
            result,
        }
    }

    #[test]
    fn rows() {
        let check = |row: Row, expected: &str| assert_eq!(table_row(&row), expected);
        check(
            row(Ok(measurement())),
            "| fanout-256 | ok | 270 ms | 255 ms | 250 ms | 1.08× | 12.5 MiB | 257 | 64 | wall ≤ 1.15× ideal, 64 in flight | PASS |",
        );
        check(
            row(Ok(Measurement {
                requests: 300,
                peak_concurrency: 60,
                run: None,
                peak_rss: None,
                wrong_answer: Some("expected 256".into()),
                verdict: Verdict::Fail,
                ..measurement()
            })),
            "| fanout-256 | WRONG | 270 ms | n/a | 250 ms | 1.08× | n/a | 300 (expected 257) | 60 (expected 64) | wall ≤ 1.15× ideal, 64 in flight | FAIL (wrong answer) |",
        );
        check(
            Row {
                ideal: Duration::ZERO,
                result: Ok(Measurement {
                    verdict: Verdict::Unknown,
                    ..measurement()
                }),
                ..row(Ok(measurement()))
            },
            "| fanout-256 | ok | 270 ms | 255 ms | 0 ms | n/a | 12.5 MiB | 257 | 64 | wall ≤ 1.15× ideal, 64 in flight | n/a |",
        );
        check(
            row(Err("exit 1".into())),
            "| fanout-256 | CLI FAILED | – | – | 250 ms | – | – | – | – | wall ≤ 1.15× ideal, 64 in flight | FAIL (error) |",
        );
    }

    #[test]
    fn row_errors_and_misses() {
        assert!(!row(Ok(measurement())).is_error());
        assert!(row(Err("x".into())).is_error());
        let wrong = row(Ok(Measurement {
            wrong_answer: Some("expected 256".into()),
            ..measurement()
        }));
        assert!(wrong.is_error());
        let missed = row(Ok(Measurement {
            verdict: Verdict::Fail,
            ..measurement()
        }));
        assert!(missed.missed_goal() && !missed.is_error());
    }

    #[test]
    fn whole_report() {
        let report = Report {
            date: "2026-05-01 12:00 UTC".into(),
            machine: Machine {
                nproc: 2,
                cpu: "Test CPU @ 3.00GHz".into(),
                load: Some("0.50 0.25 0.10".into()),
            },
            latency: Duration::from_millis(50),
            commit: Some("abc1234-dirty".into()),
            rows: vec![row(Ok(measurement())), row(Err("a | b\nc".into()))],
            scenarios_took: Duration::from_millis(12_340),
            build_took: Duration::from_millis(900),
            errors: vec!["fanout-256: a | b\nc".into()],
        };
        let text = render(&report);
        let expected = "\
## cargo xtask bench

- date: 2026-05-01 12:00 UTC
- machine: Test CPU @ 3.00GHz (nproc 2), load average 0.50 0.25 0.10 at the start
- LLM latency: 50 ms per request (fake OpenAI-compatible server on 127.0.0.1, in the rlm-bench process)
- commit: abc1234-dirty
- took: 12.3 s (scenarios) + 0.9 s (release build of rlm-cli)

| scenario | answer | wall | CLI run | ideal | wall/ideal | peak RSS | requests | peak concurrency | goal | result |
|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|
| fanout-256 | ok | 270 ms | 255 ms | 250 ms | 1.08× | 12.5 MiB | 257 | 64 | wall ≤ 1.15× ideal, 64 in flight | PASS |
| fanout-256 | CLI FAILED | – | – | 250 ms | – | – | – | – | wall ≤ 1.15× ideal, 64 in flight | FAIL (error) |
";
        assert!(text.starts_with(expected), "{text}");
        assert!(
            text.ends_with("### Errors\n\n- fanout-256: a \\| b c\n"),
            "{text}"
        );
    }

    #[test]
    fn cpu_model_from_cpuinfo() {
        let info = "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) CPU @ 2.20GHz\n\nprocessor\t: 1\nmodel name\t: other\n";
        assert_eq!(
            cpu_model(info).as_deref(),
            Some("Intel(R) Xeon(R) CPU @ 2.20GHz")
        );
        assert_eq!(cpu_model("processor : 0\n"), None);
    }

    #[test]
    fn dates() {
        let check = |secs: u64, expected: &str| assert_eq!(utc_date(secs), expected, "{secs}");
        check(0, "1970-01-01 00:00 UTC");
        check(951_782_400, "2000-02-29 00:00 UTC");
        check(1_709_164_799, "2024-02-28 23:59 UTC");
        check(1_767_225_600, "2026-01-01 00:00 UTC");
        check(4_107_542_400, "2100-03-01 00:00 UTC");
    }
}
