//! `bench-report RESULTS.jsonl MACHINE.txt`: the Markdown report of one `bench/run`.
//!
//! Medians across reps of each client's figures; ratios are taken within one rep (both runs of
//! the same rep, interleaved) and then the median of those per-rep ratios is reported.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::Value;

const CLIENTS: &[&str] = &[
    "httptrace",
    "httptrace-traced",
    "hyper",
    "reqwest",
    "go",
    "go-traced",
    "raw",
];

#[derive(Clone, Debug)]
struct Run {
    rps: f64,
    cpu: f64,
    p50: f64,
    p99: f64,
    rss_kb: f64,
    anon_kb: f64,
    errors: u64,
    hooks_seen: Option<u64>,
}

#[derive(Default)]
struct Scenario {
    /// client -> rep -> run
    runs: BTreeMap<String, BTreeMap<u64, Run>>,
    /// client -> failure message
    failed: BTreeMap<String, String>,
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    v.retain(|x| x.is_finite());
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

impl Scenario {
    fn med(&self, client: &str, f: impl Fn(&Run) -> f64) -> Option<f64> {
        self.runs
            .get(client)
            .and_then(|r| median(r.values().map(&f).collect()))
    }
    /// Median over reps of f(a)/f(b), both from the same rep.
    fn ratio(&self, a: &str, b: &str, f: impl Fn(&Run) -> f64) -> Option<f64> {
        let (ra, rb) = (self.runs.get(a)?, self.runs.get(b)?);
        median(
            ra.iter()
                .filter_map(|(rep, x)| rb.get(rep).map(|y| f(x) / f(y)))
                .collect(),
        )
    }
}

fn cell(v: Option<f64>, prec: usize) -> String {
    match v {
        Some(x) => format!("{x:.prec$}"),
        None => "n/a".into(),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 2 {
        eprintln!("usage: bench-report RESULTS.jsonl MACHINE.txt");
        std::process::exit(2);
    }
    let text = std::fs::read_to_string(&args[0]).expect("read results");
    let machine = std::fs::read_to_string(&args[1]).unwrap_or_default();

    let mut order: Vec<String> = Vec::new();
    let mut sc: BTreeMap<String, Scenario> = BTreeMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value = match serde_json::from_str(line) {
            Ok(v) => v,
            Err(e) => {
                eprintln!("bench-report: skipping bad line ({e}): {line}");
                continue;
            }
        };
        let name = v["scenario"].as_str().unwrap_or("?").to_string();
        if !sc.contains_key(&name) {
            order.push(name.clone());
        }
        let s = sc.entry(name).or_default();
        let client = v["client"].as_str().unwrap_or("?").to_string();
        if let Some(msg) = v["failed"].as_str() {
            s.failed.insert(client, msg.to_string());
            continue;
        }
        let f = |k: &str| v[k].as_f64().unwrap_or(f64::NAN);
        let run = Run {
            rps: f("rps"),
            cpu: f("cpu_us_per_req"),
            p50: f("p50_us"),
            p99: f("p99_us"),
            rss_kb: f("max_rss_kb"),
            anon_kb: f("rss_anon_kb"),
            errors: v["errors"].as_u64().unwrap_or(0),
            hooks_seen: v["hooks_seen"].as_u64(),
        };
        s.runs
            .entry(client)
            .or_default()
            .insert(v["rep"].as_u64().unwrap_or(0), run);
    }

    let mut md = String::new();
    let _ = writeln!(md, "## httptrace benchmark\n");
    let _ = writeln!(md, "```text\n{}```\n", machine);
    let _ = writeln!(
        md,
        "nginx 1 worker on core 0, each client process on core 1 (Rust: tokio current_thread; \
         Go: GOMAXPROCS=1). Figures are medians over reps; ratios are per-rep ratios (same rep, \
         interleaved runs), then their median. CPU = client user+sys per request (getrusage), \
         the figure to trust on a noisy machine. `hyper` = hyper-util legacy client.\n"
    );

    let present: Vec<&str> = CLIENTS
        .iter()
        .copied()
        .filter(|c| {
            sc.values()
                .any(|s| s.runs.contains_key(*c) || s.failed.contains_key(*c))
        })
        .collect();
    let table = |md: &mut String, title: &str, f: &dyn Fn(&Run) -> f64, prec: usize| {
        let _ = writeln!(md, "### {title}\n");
        let _ = writeln!(md, "| scenario | {} |", present.join(" | "));
        let _ = writeln!(md, "|---|{}", "---:|".repeat(present.len()));
        for name in &order {
            let s = &sc[name];
            let cells: Vec<String> = present
                .iter()
                .map(|c| match (s.runs.contains_key(*c), s.failed.get(*c)) {
                    (true, _) => cell(s.med(c, f), prec),
                    (false, Some(m)) if m.starts_with("n/a") => "n/a".into(),
                    (false, Some(_)) => "FAILED".into(),
                    (false, None) => "-".into(),
                })
                .collect();
            let _ = writeln!(md, "| {name} | {} |", cells.join(" | "));
        }
        let _ = writeln!(md);
    };
    table(&mut md, "Client CPU µs per request (median)", &|r| r.cpu, 2);
    table(&mut md, "Requests per second (median)", &|r| r.rps, 0);
    table(&mut md, "Latency p50 µs (median)", &|r| r.p50, 1);
    table(&mut md, "Latency p99 µs (median)", &|r| r.p99, 1);
    table(
        &mut md,
        "Peak RSS MiB (median of ru_maxrss)",
        &|r| r.rss_kb / 1024.0,
        1,
    );
    table(
        &mut md,
        "Anonymous RSS MiB at the end of the run (heap and stacks: peak RSS less the \
         executable's and libraries' resident pages; `RssAnon` of /proc/self/status)",
        &|r| r.anon_kb / 1024.0,
        2,
    );

    let _ = writeln!(
        md,
        "### Same-rep ratios (median over reps; < 1 means httptrace lower)\n"
    );
    let _ = writeln!(
        md,
        "| scenario | CPU httptrace/hyper | CPU traced/untraced | CPU httptrace/go | CPU traced/go-traced | req/s httptrace/hyper | req/s httptrace/go | RSS httptrace/hyper |"
    );
    let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|---:|---:|");
    let cpu = |r: &Run| r.cpu;
    let rps = |r: &Run| r.rps;
    let rss = |r: &Run| r.rss_kb;
    for name in &order {
        let s = &sc[name];
        let _ = writeln!(
            md,
            "| {name} | {} | {} | {} | {} | {} | {} | {} |",
            cell(s.ratio("httptrace", "hyper", cpu), 3),
            cell(s.ratio("httptrace-traced", "httptrace", cpu), 3),
            cell(s.ratio("httptrace", "go", cpu), 3),
            cell(s.ratio("httptrace-traced", "go-traced", cpu), 3),
            cell(s.ratio("httptrace", "hyper", rps), 3),
            cell(s.ratio("httptrace", "go", rps), 3),
            cell(s.ratio("httptrace", "hyper", rss), 3),
        );
    }
    let _ = writeln!(md);

    // Errors, hook sanity and failures.
    let mut notes = Vec::new();
    let mut hooks_line = Vec::new();
    for name in &order {
        let s = &sc[name];
        for (c, reps) in &s.runs {
            let e: u64 = reps.values().map(|r| r.errors).sum();
            if e > 0 {
                notes.push(format!("{name}: {c} had {e} failed requests"));
            }
        }
        let hooks = |c: &str| {
            s.runs
                .get(c)
                .and_then(|r| r.values().filter_map(|x| x.hooks_seen).max())
                .map_or("-".to_string(), |h| h.to_string())
        };
        hooks_line.push(format!(
            "{name} {}/{}",
            hooks("httptrace-traced"),
            hooks("go-traced")
        ));
        for (c, m) in &s.failed {
            notes.push(format!("{name}: {c}: {m}"));
        }
    }

    // Targets (issue 4).
    let _ = writeln!(md, "### Targets\n");
    let mut check =
        |label: String, vals: Vec<(String, Option<f64>)>, pass: &dyn Fn(f64) -> bool| {
            let missing = vals.iter().any(|(_, v)| v.is_none()) || vals.is_empty();
            let worst = vals
                .iter()
                .filter_map(|(n, v)| v.map(|x| (n, x)))
                .map(|(n, x)| format!("{n} {x:.3}"))
                .collect::<Vec<_>>()
                .join(", ");
            let ok = !missing && vals.iter().all(|(_, v)| v.is_some_and(pass));
            let verdict = if missing && vals.iter().all(|(_, v)| v.is_none()) {
                "N/A"
            } else if ok {
                "PASS"
            } else {
                "FAIL"
            };
            let _ = writeln!(md, "- **{verdict}** {label}: {worst}");
        };
    let headline = ["h1-c32-13", "h1-c32-64k"];
    let r =
        |n: &str, a: &str, b: &str, f: fn(&Run) -> f64| sc.get(n).and_then(|s| s.ratio(a, b, f));
    check(
        "untraced CPU/req ≤ 0.75× hyper-util in HTTP/1.1 c=32 (13 B headline, 64 KiB too)".into(),
        headline
            .iter()
            .filter(|n| sc.contains_key(**n))
            .map(|n| (n.to_string(), r(n, "httptrace", "hyper", |x| x.cpu)))
            .collect(),
        &|x| x <= 0.75,
    );
    check(
        "untraced CPU/req ≤ 1.0× hyper-util in every other scenario".into(),
        order
            .iter()
            .filter(|n| !headline.contains(&n.as_str()))
            .map(|n| (n.clone(), r(n, "httptrace", "hyper", |x| x.cpu)))
            .collect(),
        &|x| x <= 1.0,
    );
    check(
        "all 16 hooks: CPU/req ≤ 1.05× untraced".into(),
        order
            .iter()
            .map(|n| (n.clone(), r(n, "httptrace-traced", "httptrace", |x| x.cpu)))
            .collect(),
        &|x| x <= 1.05,
    );
    check(
        "ahead of Go: untraced CPU/req < Go's (req/s ratios in the table above)".into(),
        order
            .iter()
            .map(|n| (n.clone(), r(n, "httptrace", "go", |x| x.cpu)))
            .collect(),
        &|x| x < 1.0,
    );
    check(
        "ahead of Go traced: traced CPU/req < Go traced's".into(),
        order
            .iter()
            .map(|n| (n.clone(), r(n, "httptrace-traced", "go-traced", |x| x.cpu)))
            .collect(),
        &|x| x < 1.0,
    );
    check(
        "peak RSS ≤ hyper-util's".into(),
        order
            .iter()
            .map(|n| (n.clone(), r(n, "httptrace", "hyper", |x| x.rss_kb)))
            .collect(),
        &|x| x <= 1.0,
    );
    let _ = writeln!(md);
    notes.push(format!(
        "distinct hooks that fired in a run (of 16; probe, warm-up and dials included), \
         httptrace-traced/go-traced: {}",
        hooks_line.join(", ")
    ));
    if !notes.is_empty() {
        let _ = writeln!(md, "### Notes\n");
        for n in notes {
            let _ = writeln!(md, "- {n}");
        }
        let _ = writeln!(md);
    }
    print!("{md}");
}
