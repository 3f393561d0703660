//! Which variants a chart draws as one series, and what goes on its x axis.

use serde_json::Value;

use stacksim::report::Report;

/// The parameter every variant has, naming its balancing policy.
const POLICY: &str = "policy";

/// How a report's variants map onto a chart.
///
/// The x axis is the first parameter other than `policy` that is a number in every variant and
/// takes at least two values. Variants that agree on every other parameter form one series (a
/// line). Without such a parameter each variant is a category of its own (a bar).
#[derive(Debug)]
pub(crate) struct Layout {
    /// The numeric parameter on the x axis, if there is one.
    pub x: Option<String>,
    /// Series in order of first appearance.
    pub series: Vec<Series>,
    /// The parameters, other than x, that tell series apart.
    pub names: Vec<String>,
}

/// Between parameter values in a label naming several.
const SEPARATOR: &str = " · ";

/// Variants that differ only in the x parameter.
#[derive(Debug)]
pub(crate) struct Series {
    /// The parameters that tell this series from the others: the policy's name when only the
    /// policy differs (`LeastConnections`), `name=value` for one other parameter
    /// (`queue=Unbounded`), and the values alone for several (`Random · Unbounded`).
    pub label: String,
    /// `(x, variant index)`, sorted by x; x is 0 when there is no x axis.
    pub points: Vec<(f64, usize)>,
}

impl Layout {
    /// The layout of `report`'s variants.
    pub fn of(report: &Report) -> Layout {
        let x = x_parameter(report);
        let varying: Vec<&str> = parameter_names(report)
            .into_iter()
            .filter(|name| Some(*name) != x.as_deref() && varies(report, name))
            .collect();
        let mut series: Vec<Series> = Vec::new();
        let mut keys: Vec<Vec<String>> = Vec::new();
        for (index, variant) in report.variants.iter().enumerate() {
            let key: Vec<String> = varying.iter().map(|name| shown(variant.params.get(*name))).collect();
            let x_value =
                x.as_deref().and_then(|name| variant.params.get(name)).and_then(Value::as_f64).unwrap_or(0.0);
            // Without an x axis every variant is a bar of its own, even a repeated one.
            let same = x.as_ref().and_then(|_| keys.iter().position(|k| *k == key));
            match same {
                Some(s) => series[s].points.push((x_value, index)),
                None => {
                    let label = if varying.is_empty() || varying == [POLICY] {
                        variant.params.get(POLICY).map_or_else(|| variant.label.clone(), |p| shown(Some(p)))
                    } else if let ([name], [value]) = (&varying[..], &key[..]) {
                        format!("{name}={value}")
                    } else {
                        key.join(SEPARATOR)
                    };
                    keys.push(key);
                    series.push(Series { label, points: vec![(x_value, index)] });
                }
            }
        }
        for s in &mut series {
            s.points.sort_by(|a, b| a.0.total_cmp(&b.0));
        }
        let names = varying.iter().map(|name| (*name).to_owned()).collect();
        Layout { x, series, names }
    }

    /// A sentence saying what the parts of a label are, when labels hold several values:
    /// `"Labels: policy · queue."`.
    pub fn label_note(&self) -> Option<String> {
        (self.names.len() > 1).then(|| format!("Labels: {}.", self.names.join(SEPARATOR)))
    }

    /// The series that `variant` belongs to.
    pub fn series_of(&self, variant: usize) -> usize {
        self.series.iter().position(|s| s.points.iter().any(|&(_, v)| v == variant)).unwrap_or(0)
    }
}

/// Parameter names in order of first appearance across variants.
fn parameter_names(report: &Report) -> Vec<&str> {
    let mut names: Vec<&str> = Vec::new();
    for variant in &report.variants {
        for name in variant.params.keys() {
            if !names.contains(&name.as_str()) {
                names.push(name);
            }
        }
    }
    names
}

fn varies(report: &Report, name: &str) -> bool {
    let mut values = report.variants.iter().map(|v| v.params.get(name));
    let first = values.next().flatten();
    values.any(|v| v != first)
}

fn x_parameter(report: &Report) -> Option<String> {
    parameter_names(report)
        .into_iter()
        .filter(|name| *name != POLICY)
        .find(|name| {
            let numbers: Option<Vec<f64>> = report
                .variants
                .iter()
                .map(|v| v.params.get(*name).and_then(Value::as_f64))
                .map(|x| x.filter(|x| x.is_finite()))
                .collect();
            numbers.is_some_and(|xs| xs.iter().any(|x| *x != xs[0]))
        })
        .map(str::to_owned)
}

/// A parameter value as a person reads it: strings without quotes.
pub(crate) fn shown(value: Option<&Value>) -> String {
    match value {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => "–".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A report with a variant per entry of `params`, built from JSON text (which keeps the
    /// parameters' order, and gives any later report field its default).
    fn report(params: &[&[(&str, Value)]]) -> Report {
        let variants: Vec<String> = params
            .iter()
            .map(|ps| {
                let label: Vec<String> = ps.iter().map(|(k, v)| format!("{k}={}", shown(Some(v)))).collect();
                let params: Vec<String> = ps.iter().map(|(k, v)| format!("{:?}: {v}", *k)).collect();
                format!(
                    r#"{{"label": {:?}, "params": {{{}}}, "replications": 2, "metrics": {{}}, "backends": []}}"#,
                    label.join(" "),
                    params.join(", ")
                )
            })
            .collect();
        let json =
            format!(r#"{{"experiment": "t", "seed": 1, "variants": [{}], "runs": []}}"#, variants.join(", "));
        serde_json::from_str(&json).unwrap()
    }

    fn policy(name: &str) -> (&'static str, Value) {
        (POLICY, Value::from(name))
    }

    #[test]
    fn policy_only_sweep_has_one_category_per_policy() {
        let layout = Layout::of(&report(&[&[policy("RoundRobin")], &[policy("Random")]]));
        assert_eq!(layout.x, None);
        let labels: Vec<_> = layout.series.iter().map(|s| s.label.as_str()).collect();
        assert_eq!(labels, ["RoundRobin", "Random"]);
    }

    #[test]
    fn numeric_parameter_is_the_x_axis_with_a_line_per_policy() {
        let layout = Layout::of(&report(&[
            &[policy("RoundRobin"), ("rate_per_s", Value::from(200.0))],
            &[policy("RoundRobin"), ("rate_per_s", Value::from(100.0))],
            &[policy("Random"), ("rate_per_s", Value::from(100.0))],
            &[policy("Random"), ("rate_per_s", Value::from(200.0))],
        ]));
        assert_eq!(layout.x.as_deref(), Some("rate_per_s"));
        assert_eq!(layout.series.len(), 2);
        assert_eq!(layout.series[0].label, "RoundRobin");
        assert_eq!(layout.series[0].points, [(100.0, 1), (200.0, 0)]);
        assert_eq!(layout.series[1].points, [(100.0, 2), (200.0, 3)]);
        assert_eq!(layout.series_of(3), 1);
    }

    #[test]
    fn other_parameters_split_series_and_name_them() {
        let layout = Layout::of(&report(&[
            &[policy("Random"), ("queue", Value::from("Bounded(10)")), ("workers", Value::from(2))],
            &[policy("Random"), ("queue", Value::from("Unbounded")), ("workers", Value::from(2))],
            &[policy("Random"), ("queue", Value::from("Bounded(10)")), ("workers", Value::from(4))],
        ]));
        assert_eq!(layout.x.as_deref(), Some("workers"));
        let labels: Vec<_> = layout.series.iter().map(|s| s.label.as_str()).collect();
        assert_eq!(labels, ["queue=Bounded(10)", "queue=Unbounded"]);
        assert_eq!(layout.label_note(), None);
    }

    #[test]
    fn several_parameters_are_named_once_in_a_note() {
        let layout = Layout::of(&report(&[
            &[policy("Random"), ("queue", Value::from("Bounded(10)"))],
            &[policy("Random"), ("queue", Value::from("Unbounded"))],
            &[policy("RoundRobin"), ("queue", Value::from("Unbounded"))],
        ]));
        assert_eq!(layout.x, None);
        let labels: Vec<_> = layout.series.iter().map(|s| s.label.as_str()).collect();
        assert_eq!(labels, ["Random · Bounded(10)", "Random · Unbounded", "RoundRobin · Unbounded"]);
        assert_eq!(layout.label_note().as_deref(), Some("Labels: policy · queue."));
    }

    #[test]
    fn a_constant_number_is_not_an_axis() {
        let layout = Layout::of(&report(&[
            &[policy("RoundRobin"), ("workers", Value::from(2))],
            &[policy("Random"), ("workers", Value::from(2))],
        ]));
        assert_eq!(layout.x, None);
        assert_eq!(layout.series.len(), 2);
        assert_eq!(layout.series[1].label, "Random");
    }
}
