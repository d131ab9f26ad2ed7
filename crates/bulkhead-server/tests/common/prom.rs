//! A strict Prometheus text-format (0.0.4) parser for the tests: refuses
//! what Prometheus would (bad names, bad escapes, duplicate series, families
//! split apart, counters not ending in `_total`, histograms whose buckets
//! are not cumulative or lack `+Inf`, `_sum` or a matching `_count`).
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

fn parse_labels(s: &str) -> Result<(BTreeMap<String, String>, &str), String> {
    // s starts just after '{'
    let mut labels = BTreeMap::new();
    let b = s.as_bytes();
    let mut i = 0;
    loop {
        if b.get(i) == Some(&b'}') {
            return Ok((labels, &s[i + 1..]));
        }
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
                    if ch == '\n' {
                        return Err("raw newline in label value".into());
                    }
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
            Some(b'}') => {}
            _ => return Err("expected , or } after label".into()),
        }
    }
}

/// Parse and validate; returns families by name.
pub fn parse(text: &str) -> Result<BTreeMap<String, Family>, String> {
    if !text.ends_with('\n') {
        return Err("exposition must end with a newline".into());
    }
    let mut fams: BTreeMap<String, Family> = BTreeMap::new();
    let mut helps = BTreeSet::new();
    let mut current: Option<String> = None;
    let mut closed = BTreeSet::new();
    let mut series = BTreeSet::new();
    for (n, line) in text.lines().enumerate() {
        let err = |m: String| format!("line {}: {m}: {line}", n + 1);
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            let (kw, name) = (parts.next().unwrap(), parts.next().ok_or_else(|| err("no name".into()))?);
            if !valid_metric_name(name) {
                return Err(err("bad metric name".into()));
            }
            match kw {
                "HELP" if !helps.insert(name.to_string()) => return Err(err("second HELP".into())),
                "HELP" => {}
                "TYPE" => {
                    let kind = parts.next().ok_or_else(|| err("no type".into()))?;
                    if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind) {
                        return Err(err("unknown type".into()));
                    }
                    if fams.contains_key(name) {
                        return Err(err("second TYPE".into()));
                    }
                    if let Some(c) = current.replace(name.to_string()) {
                        closed.insert(c);
                    }
                    fams.insert(name.to_string(), Family { kind: kind.to_string(), samples: Vec::new() });
                }
                _ => {}
            }
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let name_end = line.find(['{', ' ']).ok_or_else(|| err("no value".into()))?;
        let name = &line[..name_end];
        if !valid_metric_name(name) {
            return Err(err("bad metric name".into()));
        }
        let (labels, rest) = if line.as_bytes()[name_end] == b'{' {
            parse_labels(&line[name_end + 1..]).map_err(err)?
        } else {
            (BTreeMap::new(), &line[name_end..])
        };
        let rest = rest.strip_prefix(' ').ok_or_else(|| err("expected a space before the value".into()))?;
        let mut vt = rest.split(' ');
        let value = parse_value(vt.next().unwrap()).map_err(err)?;
        if let Some(ts) = vt.next() {
            ts.parse::<i64>().map_err(|_| err("bad timestamp".into()))?;
        }
        if vt.next().is_some() {
            return Err(err("trailing text".into()));
        }
        let fam_name = current.clone().ok_or_else(|| err("sample before any TYPE".into()))?;
        let fam = fams.get_mut(&fam_name).unwrap();
        let ok_name = match fam.kind.as_str() {
            "histogram" => {
                [&*fam_name, &format!("{fam_name}_bucket"), &format!("{fam_name}_sum"), &format!("{fam_name}_count")]
                    .iter()
                    .skip(1)
                    .any(|s| *s == name)
            }
            _ => name == fam_name,
        };
        if !ok_name {
            return Err(err(format!("sample `{name}` does not belong to family `{fam_name}`")));
        }
        if closed.contains(name) {
            return Err(err("family is not contiguous".into()));
        }
        if !series.insert(format!("{name}{labels:?}")) {
            return Err(err("duplicate series".into()));
        }
        fam.samples.push(Sample { name: name.to_string(), labels, value });
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

fn check_histogram(name: &str, f: &Family) -> Result<(), String> {
    let mut groups: BTreeMap<Vec<(String, String)>, Vec<&Sample>> = BTreeMap::new();
    for s in &f.samples {
        let key: Vec<_> = s.labels.iter().filter(|(k, _)| *k != "le").map(|(k, v)| (k.clone(), v.clone())).collect();
        groups.entry(key).or_default().push(s);
    }
    for (key, samples) in groups {
        let buckets: Vec<_> = samples.iter().filter(|s| s.name.ends_with("_bucket")).collect();
        let mut last_le = f64::NEG_INFINITY;
        let mut last_count = 0.0;
        for b in &buckets {
            let le: f64 = parse_value(b.labels.get("le").ok_or(format!("{name}: bucket without le"))?)?;
            if le <= last_le || b.value < last_count {
                return Err(format!("{name} {key:?}: buckets not increasing"));
            }
            last_le = le;
            last_count = b.value;
        }
        if last_le != f64::INFINITY {
            return Err(format!("{name} {key:?}: no +Inf bucket"));
        }
        let count = samples.iter().find(|s| s.name.ends_with("_count")).ok_or(format!("{name}: no _count"))?;
        samples.iter().find(|s| s.name.ends_with("_sum")).ok_or(format!("{name}: no _sum"))?;
        if count.value != last_count {
            return Err(format!("{name} {key:?}: _count != +Inf bucket"));
        }
    }
    Ok(())
}

/// Assert that histogram `name` has a series for each `label=value` with
/// cumulative buckets ending in `+Inf`, `_count` equal to the `+Inf` bucket
/// and `_count > 0`. Returns the counts in the order of `values`.
pub fn check_cumulative_histogram(
    fams: &BTreeMap<String, Family>,
    name: &str,
    label: &str,
    values: &[&str],
) -> Vec<f64> {
    let f = fams.get(name).unwrap_or_else(|| panic!("no family {name}"));
    assert_eq!(f.kind, "histogram", "{name}");
    values
        .iter()
        .map(|v| {
            let of = |suffix: &str| -> Vec<&Sample> {
                f.samples
                    .iter()
                    .filter(|s| {
                        s.name == format!("{name}{suffix}") && s.labels.get(label).map(String::as_str) == Some(*v)
                    })
                    .collect()
            };
            let buckets = of("_bucket");
            assert!(buckets.len() >= 2, "{name}{{{label}={v}}}: buckets {buckets:?}");
            let mut last = (f64::NEG_INFINITY, 0.0);
            for b in &buckets {
                let le = parse_value(&b.labels["le"]).unwrap();
                assert!(le > last.0 && b.value >= last.1, "{name}{{{label}={v}}}: not cumulative: {buckets:?}");
                last = (le, b.value);
            }
            assert_eq!(last.0, f64::INFINITY, "{name}{{{label}={v}}}: last bucket is not +Inf");
            let count = of("_count");
            let sum = of("_sum");
            assert_eq!((count.len(), sum.len()), (1, 1), "{name}{{{label}={v}}}");
            assert_eq!(count[0].value, last.1, "{name}{{{label}={v}}}: _count != +Inf bucket");
            assert!(count[0].value > 0.0, "{name}{{{label}={v}}}: no samples");
            assert!(sum[0].value > 0.0, "{name}{{{label}={v}}}: _sum is {}", sum[0].value);
            count[0].value
        })
        .collect()
}
