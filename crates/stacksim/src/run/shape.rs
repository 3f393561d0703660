//! What every run record of one experiment has in common, so that a merge can refuse a record
//! that was damaged or comes from another run.
//!
//! Every run of an experiment measures the same metrics; the runs of one variant have the same
//! backends (a sweep may change them between variants), the same windows and the same request
//! classes. Counts (requests
//! arrived, routed, ...) always have a value: a whole number, never `null`. The first record
//! seen sets what the others must match.

use indexmap::IndexMap;

use crate::metric::{BackendMetric, ClassMetric, Metric, Unit};
use crate::report::{Reading, RunRecord};

/// The shape of the records seen so far.
#[derive(Debug, Default)]
pub(super) struct Shapes {
    /// The whole-stack metrics of the first record.
    metrics: Option<Names>,
    /// Per variant, the shape of its first record.
    variants: Vec<Option<VariantShape>>,
}

/// What the runs of one variant share.
#[derive(Debug)]
struct VariantShape {
    /// Each backend's name and metrics, in balancer order.
    backends: Vec<(String, Names)>,
    /// How many windows a run has, and the metrics of each.
    windows: usize,
    window_metrics: Names,
    /// Each request class's client and name, and its metrics.
    classes: Vec<((String, String), Names)>,
}

/// The metric names of a record, in its order, and which of them are counts.
#[derive(Debug)]
struct Names {
    names: Vec<String>,
    counts: Vec<bool>,
}

impl Names {
    fn of(metrics: &IndexMap<String, Reading>, unit: impl Fn(&str) -> Option<Unit>) -> Names {
        Names {
            names: metrics.keys().cloned().collect(),
            counts: metrics.keys().map(|name| unit(name) == Some(Unit::Count)).collect(),
        }
    }

    /// Whether `found` has these metrics (in any order: the report lists them as the first
    /// record does), each count with a whole value; if not, what is wrong, in a phrase.
    fn check(&self, what: &str, found: &IndexMap<String, Reading>) -> Result<(), String> {
        let in_order = found.keys().eq(self.names.iter());
        if !in_order {
            if let Some(missing) = self.names.iter().find(|name| !found.contains_key(*name)) {
                return Err(format!("lacks the {what} {missing:?}, which the other runs have"));
            }
            if let Some(extra) = found.keys().find(|name| !self.names.contains(name)) {
                return Err(format!("has a {what} {extra:?}, which the other runs do not"));
            }
            // The same names in another order (a tool that rewrote the file sorted them).
        }
        for (i, (name, &count)) in self.names.iter().zip(&self.counts).enumerate() {
            let Reading(value) = if in_order { found[i] } else { found[name] };
            if count && !(value.is_finite() && value >= 0.0 && value.fract() == 0.0) {
                let value = if value.is_nan() { "no value".to_owned() } else { value.to_string() };
                return Err(format!("has {value} for the {what} {name:?}, a count that every run measures"));
            }
        }
        Ok(())
    }
}

fn metric_unit(name: &str) -> Option<Unit> {
    Metric::from_name(name).map(|m| m.unit())
}

fn backend_unit(name: &str) -> Option<Unit> {
    BackendMetric::from_name(name).map(BackendMetric::unit)
}

fn class_unit(name: &str) -> Option<Unit> {
    ClassMetric::from_name(name).map(ClassMetric::unit)
}

impl Shapes {
    /// Checks `record` against the records seen before it (and remembers its shape if it is the
    /// first of its variant); on a mismatch, what is wrong with it, in a phrase.
    ///
    /// `record.variant` must already be known to be below `variants`, the grid's.
    pub(super) fn check(&mut self, record: &RunRecord, variants: usize) -> Result<(), String> {
        let metrics = self.metrics.get_or_insert_with(|| Names::of(&record.metrics, metric_unit));
        metrics.check("metric", &record.metrics)?;
        if self.variants.len() < variants {
            self.variants.resize_with(variants, || None);
        }
        let first = self.variants[record.variant].get_or_insert_with(|| VariantShape {
            backends: record
                .backends
                .iter()
                .map(|b| (b.name.clone(), Names::of(&b.metrics, backend_unit)))
                .collect(),
            windows: record.windows.len(),
            window_metrics: Names::of(record.windows.first().unwrap_or(&IndexMap::new()), |_| None),
            classes: record
                .classes
                .iter()
                .map(|c| ((c.client.clone(), c.name.clone()), Names::of(&c.metrics, class_unit)))
                .collect(),
        });
        if record.backends.iter().map(|b| &b.name).ne(first.backends.iter().map(|b| &b.0)) {
            let list =
                |names: Vec<&String>| names.iter().map(|n| format!("{n:?}")).collect::<Vec<_>>().join(", ");
            return Err(format!(
                "has backends [{}] where its variant's other runs have [{}]",
                list(record.backends.iter().map(|b| &b.name).collect()),
                list(first.backends.iter().map(|b| &b.0).collect()),
            ));
        }
        for ((name, expected), found) in first.backends.iter().zip(&record.backends) {
            expected.check(&format!("backend {name:?} metric"), &found.metrics)?;
        }
        if record.windows.len() != first.windows {
            return Err(format!(
                "has {} time-series windows where its variant's other runs have {}",
                record.windows.len(),
                first.windows
            ));
        }
        for window in &record.windows {
            first.window_metrics.check("window metric", window)?;
        }
        let named = |client: &str, name: &str| format!("{client}/{name}");
        if record
            .classes
            .iter()
            .map(|c| (&c.client, &c.name))
            .ne(first.classes.iter().map(|c| (&c.0.0, &c.0.1)))
        {
            let list =
                |names: Vec<String>| names.iter().map(|n| format!("{n:?}")).collect::<Vec<_>>().join(", ");
            return Err(format!(
                "has request classes [{}] where its variant's other runs have [{}]",
                list(record.classes.iter().map(|c| named(&c.client, &c.name)).collect()),
                list(first.classes.iter().map(|c| named(&c.0.0, &c.0.1)).collect()),
            ));
        }
        for (((client, name), expected), found) in first.classes.iter().zip(&record.classes) {
            expected.check(&format!("class {:?} metric", named(client, name)), &found.metrics)?;
        }
        Ok(())
    }
}
