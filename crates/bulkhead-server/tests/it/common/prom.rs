//! `/metrics` as a scraper reads it: parsed by the `prometheus-parse` crate
//! (its line grammar, [`prometheus_parse::LineInfo`], and its samples,
//! [`prometheus_parse::Scrape`]), plus the checks that crate does not make
//! and Prometheus conventions ask for: every line understood (the crate
//! skips what it cannot read), a newline at the end, one `# HELP` and one
//! `# TYPE` per family before its samples, families kept together, valid
//! names and label escapes, no duplicate series, counters named `_total`
//! and never negative, histograms with increasing `le`, cumulative buckets
//! ending in `+Inf`, a `_sum`, and a `_count` equal to the `+Inf` bucket.
use prometheus_parse::{LineInfo, Scrape, Value};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

pub struct Family {
    pub kind: String,
    pub samples: Vec<Sample>,
}

fn valid_metric_name(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(ch) if ch.is_ascii_alphabetic() || ch == '_' || ch == ':')
        && c.all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == ':')
}
fn valid_label_name(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(ch) if ch.is_ascii_alphabetic() || ch == '_')
        && c.all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
        && !s.starts_with("__")
}
fn parse_value(s: &str) -> Result<f64, String> {
    match s {
        "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        "NaN" => Ok(f64::NAN),
        _ => s.parse::<f64>().map_err(|_| format!("bad value `{s}`")),
    }
}
fn le_text(v: f64) -> String {
    if v == f64::INFINITY { "+Inf".into() } else { format!("{v}") }
}

/// Label syntax (the crate splits on `,` and `=` without checking it):
/// valid names, quoted values, only `\\`, `\"`, `\n` escapes, no repeats.
fn check_labels(s: &str) -> Result<BTreeMap<String, String>, String> {
    let mut labels = BTreeMap::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let eq = s[i..].find('=').ok_or("label without =")? + i;
        let name = &s[i..eq];
        if !valid_label_name(name) {
            return Err(format!("bad label name `{name}`"));
        }
        if b.get(eq + 1) != Some(&b'"') {
            return Err("label value not quoted".into());
        }
        let mut j = eq + 2;
        let mut val = String::new();
        loop {
            match b.get(j) {
                None => return Err("unterminated label value".into()),
                Some(b'"') => break,
                Some(b'\\') => {
                    match b.get(j + 1) {
                        Some(b'\\') => val.push('\\'),
                        Some(b'"') => val.push('"'),
                        Some(b'n') => val.push('\n'),
                        _ => return Err("bad escape in label value".into()),
                    }
                    j += 2;
                }
                Some(_) => {
                    let ch = s[j..].chars().next().unwrap();
                    val.push(ch);
                    j += ch.len_utf8();
                }
            }
        }
        if labels.insert(name.to_string(), val).is_some() {
            return Err(format!("duplicate label `{name}`"));
        }
        i = j + 1;
        match b.get(i) {
            Some(b',') => i += 1,
            None => {}
            _ => return Err("expected , after a label".into()),
        }
    }
    Ok(labels)
}

/// Parse with `prometheus-parse` and validate; returns families by name.
#[expect(clippy::too_many_lines, reason = "over the ceiling when it was set (issue 14): split when next changed")]
pub fn parse(text: &str) -> Result<BTreeMap<String, Family>, String> {
    if !text.ends_with('\n') {
        return Err("exposition must end with a newline".into());
    }
    // The stricter line-by-line pass, on the crate's own line grammar.
    let mut kinds: BTreeMap<String, String> = BTreeMap::new();
    let mut helps = BTreeSet::new();
    let mut current: Option<String> = None;
    let mut closed = BTreeSet::new();
    let mut series = BTreeSet::new();
    let mut sample_lines = 0usize;
    for (n, line) in text.lines().enumerate() {
        let err = |m: &str| format!("line {}: {m}: {line}", n + 1);
        match LineInfo::parse(line) {
            LineInfo::Empty => {}
            LineInfo::Doc { metric_name, .. } => {
                if !valid_metric_name(metric_name) {
                    return Err(err("bad metric name"));
                }
                if !helps.insert(metric_name.to_string()) {
                    return Err(err("second HELP"));
                }
            }
            LineInfo::Type { metric_name, metric_alias, .. } => {
                let name = metric_alias.unwrap_or(metric_name);
                // The crate reads an unknown type as untyped; Prometheus refuses it.
                let kind = line.split_whitespace().nth(3).unwrap_or_default();
                if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind) {
                    return Err(err("unknown type"));
                }
                if !valid_metric_name(&name) {
                    return Err(err("bad metric name"));
                }
                if kinds.insert(name.clone(), kind.to_string()).is_some() {
                    return Err(err("second TYPE"));
                }
                if !helps.contains(&name) {
                    return Err(err("TYPE without a HELP before it"));
                }
                if let Some(c) = current.replace(name) {
                    closed.insert(c);
                }
            }
            LineInfo::Sample { metric_name, labels, value, timestamp } => {
                sample_lines += 1;
                if !valid_metric_name(metric_name) {
                    return Err(err("bad metric name"));
                }
                let labels = labels.map(check_labels).transpose().map_err(|e| err(&e))?.unwrap_or_default();
                parse_value(value).map_err(|e| err(&e))?;
                if let Some(ts) = timestamp {
                    ts.parse::<i64>().map_err(|_| err("bad timestamp"))?;
                }
                let fam = current.as_deref().ok_or_else(|| err("sample before any TYPE"))?;
                let belongs = match kinds[fam].as_str() {
                    "histogram" => ["_bucket", "_sum", "_count"].iter().any(|s| metric_name == format!("{fam}{s}")),
                    _ => metric_name == fam,
                };
                if !belongs {
                    return Err(err(&format!("sample `{metric_name}` does not belong to family `{fam}`")));
                }
                if closed.contains(fam) {
                    return Err(err("family is not contiguous"));
                }
                if !series.insert(format!("{metric_name}{labels:?}")) {
                    return Err(err("duplicate series"));
                }
            }
            LineInfo::Ignored if line.starts_with('#') => {}
            LineInfo::Ignored => return Err(err("not a sample, a comment or a blank line")),
        }
    }
    if let Some(h) = helps.iter().find(|h| !kinds.contains_key(*h)) {
        return Err(format!("HELP for `{h}` without a TYPE"));
    }

    // The samples, as the crate reads them.
    let scrape = Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).map_err(|e| e.to_string())?;
    let mut fams: BTreeMap<String, Family> =
        kinds.iter().map(|(n, k)| (n.clone(), Family { kind: k.clone(), samples: Vec::new() })).collect();
    let mut read = 0usize;
    for s in scrape.samples {
        let labels: BTreeMap<String, String> = s.labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        let (family, samples) = match &s.value {
            Value::Histogram(buckets) => (
                s.metric.clone(),
                buckets
                    .iter()
                    .map(|b| {
                        let mut labels = labels.clone();
                        labels.insert("le".into(), le_text(b.less_than));
                        Sample { name: format!("{}_bucket", s.metric), labels, value: b.count }
                    })
                    .collect::<Vec<_>>(),
            ),
            Value::Summary(_) => return Err(format!("{}: summaries are not used here", s.metric)),
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => {
                // A histogram's `_sum` and `_count` come back untyped.
                let family = ["_sum", "_count"]
                    .iter()
                    .find_map(|suffix| {
                        let base = s.metric.strip_suffix(suffix)?;
                        (kinds.get(base).map(String::as_str) == Some("histogram")).then(|| base.to_string())
                    })
                    .unwrap_or_else(|| s.metric.clone());
                (family, vec![Sample { name: s.metric.clone(), labels, value: *v }])
            }
        };
        let fam = fams.get_mut(&family).ok_or_else(|| format!("sample `{}` has no family", s.metric))?;
        read += samples.len();
        fam.samples.extend(samples);
    }
    if read != sample_lines {
        return Err(format!("prometheus-parse read {read} samples from {sample_lines} sample lines"));
    }
    for (name, f) in &fams {
        if f.kind == "counter" {
            if !name.ends_with("_total") {
                return Err(format!("counter `{name}` must end in _total"));
            }
            if let Some(s) = f.samples.iter().find(|s| s.value < 0.0 || s.value.is_nan()) {
                return Err(format!("counter `{name}` has a negative or NaN value: {s:?}"));
            }
        }
        if f.kind == "histogram" {
            check_histogram(name, f)?;
        }
    }
    Ok(fams)
}

/// One histogram series (labels other than `le`): buckets by increasing
/// `le`, `_sum`, `_count`.
type Series = (Vec<(f64, f64)>, Option<f64>, Option<f64>);

fn series_of(f: &Family) -> BTreeMap<Vec<(String, String)>, Series> {
    let mut groups: BTreeMap<Vec<(String, String)>, Series> = BTreeMap::new();
    for s in &f.samples {
        let key: Vec<_> = s.labels.iter().filter(|(k, _)| *k != "le").map(|(k, v)| (k.clone(), v.clone())).collect();
        let g = groups.entry(key).or_default();
        if s.name.ends_with("_bucket") {
            g.0.push((s.labels.get("le").map_or(f64::NAN, |le| parse_value(le).unwrap_or(f64::NAN)), s.value));
        } else if s.name.ends_with("_sum") {
            g.1 = Some(s.value);
        } else if s.name.ends_with("_count") {
            g.2 = Some(s.value);
        }
    }
    // The crate does not keep the buckets' order: put them by `le`.
    for g in groups.values_mut() {
        g.0.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    groups
}

fn check_histogram(name: &str, f: &Family) -> Result<(), String> {
    for (key, (buckets, sum, count)) in series_of(f) {
        let mut last = (f64::NEG_INFINITY, 0.0);
        for &(le, n) in &buckets {
            if le.is_nan() {
                return Err(format!("{name} {key:?}: bucket without a numeric le"));
            }
            if le <= last.0 || n < last.1 {
                return Err(format!("{name} {key:?}: buckets not increasing"));
            }
            last = (le, n);
        }
        if last.0 != f64::INFINITY {
            return Err(format!("{name} {key:?}: no +Inf bucket"));
        }
        sum.ok_or(format!("{name} {key:?}: no _sum"))?;
        if count != Some(last.1) {
            return Err(format!("{name} {key:?}: _count {count:?} != +Inf bucket {}", last.1));
        }
    }
    Ok(())
}

/// Assert that histogram `name` has a series for each `label=value` with at
/// least two buckets, samples in it (`_count > 0`, `_sum > 0`). Returns the
/// counts in the order of `values`. ([`parse`] checked the buckets.)
pub fn check_cumulative_histogram(
    fams: &BTreeMap<String, Family>,
    name: &str,
    label: &str,
    values: &[&str],
) -> Vec<f64> {
    let f = fams.get(name).unwrap_or_else(|| panic!("no family {name}"));
    assert_eq!(f.kind, "histogram", "{name}");
    let series = series_of(f);
    values
        .iter()
        .map(|v| {
            let (_, (buckets, sum, count)) = series
                .iter()
                .find(|(k, _)| k.iter().any(|(l, x)| l == label && x == v))
                .unwrap_or_else(|| panic!("{name}{{{label}={v}}}: no series"));
            assert!(buckets.len() >= 2, "{name}{{{label}={v}}}: buckets {buckets:?}");
            let count = count.unwrap_or_else(|| panic!("{name}{{{label}={v}}}: no _count"));
            assert!(count > 0.0, "{name}{{{label}={v}}}: no samples");
            assert!(sum.is_some_and(|s| s > 0.0), "{name}{{{label}={v}}}: _sum is {sum:?}");
            count
        })
        .collect()
}
