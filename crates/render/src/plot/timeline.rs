//! Plots over time: a report's time series window by window, with the timeline's actions
//! marked.
//!
//! 1. The x axis is time: clock time (UTC, `HH:MM`) when the experiment has a `start`, else
//!    minutes from the start (hours beyond three hours). Ticks fall on round clock times.
//! 2. Each window's value is drawn as a step over the window, so a change that an action
//!    causes starts exactly at its marker. A window without a value (no successful request,
//!    for a percentile) leaves a gap.
//! 3. Every timeline entry is a dashed vertical line through every panel, labelled once above
//!    the panels with its time and note; labels that would collide go on further rows.
//! 4. Values are means over replications, without intervals. A time panel spanning more than a
//!    factor of 20 (a 10 s timeout beside 100 ms responses) is logarithmic.
//! 5. Lines that hold the same value throughout (several policies without a single error) hide
//!    each other, so a note above the panel names them.

use std::ops::Range;

use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::chart::{
    AXIS, Area, CAPTION_SPACE, COLORS, Drawn, GRID, Header, LOG_SPREAD, MUTED, PERCENT, Scale, Ticked, Unit,
    WIDTH, color, draw_caption, fit, font, render, text_width, tick_count, time_unit,
};
use super::{Layout, variant_name};
use stacksim::Metric;
use stacksim::metric::{WindowMetric, readable_duration};
use stacksim::report::{Reading, Report, Series};

/// Pixels left of a panel's plot (margin and tick labels), and right of it.
const PLOT_LEFT: u32 = 8 + 60;
const PLOT_RIGHT: u32 = 20;
/// Pixels below a panel's plot for its tick labels, and for the axis name under the last one.
const TICKS_BELOW: u32 = 24;
const DESC_BELOW: u32 = 18;
/// Pixels of one time panel, caption and tick labels included.
const PANEL_HEIGHT: u32 = 190;
/// Pixels of a backend panel (two columns of them).
const BACKEND_PANEL_HEIGHT: u32 = 170;
/// Rows for marker labels above the panels; a label that fits none goes on the last.
const MARK_ROWS: usize = 4;
const MARK_ROW: u32 = 17;
const MARK_PX: f64 = 12.0;
/// A note on lines that coincide, above a panel's plot.
const NOTE_LINE: u32 = 18;
const NOTE_PX: f64 = 11.0;
/// Most variants a backend plot shows, a row each.
const MAX_BACKEND_ROWS: usize = 8;
/// Backends drawn in grey, beyond the busiest [`COLORS`]` - 1`.
const OTHER: RGBColor = RGBColor(200, 200, 200);

/// Seconds in a day.
const DAY: f64 = 86_400.0;

/// The time axis every panel of a plot shares.
#[derive(Debug)]
struct TimeAxis {
    /// Seconds from the start of the run.
    range: Range<f64>,
    ticks: Vec<f64>,
    step: f64,
    /// Seconds after midnight (UTC) of the run's start, when it has a clock.
    clock: Option<f64>,
    /// The date of the start, `2024-03-08`, when it has a clock.
    date: Option<String>,
    /// Offsets in hours rather than minutes (long runs without a clock).
    hours: bool,
}

impl TimeAxis {
    /// The axis for `report`'s windows over a plot `plot_width` pixels wide.
    fn of(report: &Report, plot_width: u32) -> TimeAxis {
        let range = time_range(report);
        let clock_start = report.timeline.as_ref().and_then(|t| t.clock_at(0.0));
        let (clock, date) = match clock_start {
            Some(t) => {
                let text = humantime::format_rfc3339_seconds(t).to_string();
                let epoch = t.duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());
                (Some(epoch.rem_euclid(DAY)), text.get(..10).map(str::to_owned))
            }
            None => (None, None),
        };
        let span = range.end - range.start;
        let most = tick_count(plot_width, 70).max(plot_width as usize / 90);
        const STEPS: [f64; 18] = [
            1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0,
            10800.0, 21600.0, 43200.0, DAY,
        ];
        let step = STEPS
            .into_iter()
            .find(|s| span / s <= most as f64)
            .unwrap_or_else(|| (span / most as f64 / DAY).ceil() * DAY);
        let shift = clock.unwrap_or(0.0);
        let first = ((range.start + shift) / step - 1e-9).ceil() * step - shift;
        let ticks = (0..).map(|k| first + k as f64 * step).take_while(|t| *t <= range.end + 1e-9).collect();
        TimeAxis { hours: clock.is_none() && span > 3.0 * 3600.0, range, ticks, step, clock, date }
    }

    /// A tick label: `14:30`, or minutes (hours) from the start.
    fn label(&self, t: f64) -> String {
        match self.clock {
            Some(shift) => time_of_day(shift + t, self.step < 60.0),
            None if self.hours => super::chart::format_number(t / 3600.0),
            None => super::chart::format_number(t / 60.0),
        }
    }

    /// A point in time as a marker label says it: `14:00` or `+90m`.
    fn instant(&self, t: f64) -> String {
        match self.clock {
            Some(shift) => time_of_day(shift + t, (shift + t).fract() != 0.0 || (shift + t) % 60.0 != 0.0),
            None => {
                format!(
                    "+{}",
                    readable_duration(std::time::Duration::try_from_secs_f64(t).unwrap_or_default())
                )
            }
        }
    }

    /// The axis's name.
    fn desc(&self) -> &'static str {
        match (self.clock, self.hours) {
            (Some(_), _) => "time (UTC)",
            (None, true) => "hours from start",
            (None, false) => "minutes from start",
        }
    }

    /// The pixel (from the left of its area) of time `t` in a plot spanning `plot_x`.
    fn pixel(&self, t: f64, plot_x: &Range<u32>) -> i32 {
        let f = (t - self.range.start) / (self.range.end - self.range.start);
        (f64::from(plot_x.start) + f.clamp(0.0, 1.0) * f64::from(plot_x.end - plot_x.start)).round() as i32
    }
}

/// `HH:MM` (or `HH:MM:SS`) of `seconds` after a midnight.
pub(crate) fn time_of_day(seconds: f64, with_seconds: bool) -> String {
    let s = seconds.rem_euclid(DAY).round() as u64 % 86_400;
    if with_seconds {
        format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{:02}:{:02}", s / 3600, s / 60 % 60)
    }
}

/// From the first window's start to the last window's end, in seconds from the start.
fn time_range(report: &Report) -> Range<f64> {
    let window_s = window_width(report);
    let starts = report
        .timeseries
        .iter()
        .flat_map(|s| s.windows.iter().enumerate())
        .map(|(i, w)| Values(w).start().unwrap_or(i as f64 * window_s));
    let (lo, hi) = starts.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), s| (lo.min(s), hi.max(s)));
    if lo.is_finite() && hi.is_finite() { lo..hi + window_s } else { 0.0..window_s }
}

/// The width of a window \[s\]: the timeline's, else the spacing of the first two windows, else
/// a minute.
fn window_width(report: &Report) -> f64 {
    let from_timeline = report.timeline.as_ref().map(|t| t.window_s).filter(|w| *w > 0.0);
    from_timeline
        .or_else(|| {
            let windows = &report.timeseries.first()?.windows;
            let start = |i: usize| Values(windows.get(i)?).start();
            Some(start(1)? - start(0)?).filter(|w| *w > 0.0)
        })
        .unwrap_or(60.0)
}

/// One line of a time panel: a value (in the panel's unit, NaN for none) per window.
#[derive(Debug)]
struct StepLine {
    /// What the line is, for the note on lines that coincide (empty: not named there).
    name: String,
    color: RGBColor,
    width: u32,
    /// `(start, end, value)` of each window, in time order.
    steps: Vec<(f64, f64, f64)>,
}

impl StepLine {
    /// `value` of each window of `series`.
    fn of(report: &Report, series: &Series, color: RGBColor, value: impl Fn(&Values<'_>) -> f64) -> StepLine {
        let width = window_width(report);
        let steps = series
            .windows
            .iter()
            .enumerate()
            .map(|(i, w)| {
                let start = Values(w).start().unwrap_or(i as f64 * width);
                (start, start + width, value(&Values(w)))
            })
            .collect();
        StepLine { name: String::new(), color, width: 2, steps }
    }

    fn values(&self) -> impl Iterator<Item = f64> + '_ {
        self.steps.iter().map(|s| s.2).filter(|v| v.is_finite())
    }

    fn largest(&self) -> f64 {
        self.values().fold(0.0, f64::max)
    }

    /// The value of every window, if they all have the same one.
    fn constant(&self) -> Option<f64> {
        let mut values = self.values();
        let first = values.next()?;
        values.all(|v| (v - first).abs() <= 1e-9 * first.abs().max(1.0)).then_some(first)
    }
}

/// One window's metrics, with missing values as NaN.
struct Values<'a>(&'a indexmap::IndexMap<String, Reading>);

impl Values<'_> {
    fn get(&self, metric: &WindowMetric) -> f64 {
        self.0.get(metric.name().as_ref()).map_or(f64::NAN, |m| m.0)
    }

    /// The window's start \[s from the start of the run\], if the report has it.
    fn start(&self) -> Option<f64> {
        self.0.get(WindowMetric::Start.name().as_ref()).map(|m| m.0)
    }
}

/// A panel of step lines against time.
#[derive(Debug)]
struct Panel {
    caption: String,
    /// The y axis; a logarithmic one is of times in seconds.
    scale: Scale,
    lines: Vec<StepLine>,
}

impl Panel {
    /// A panel whose scale starts at zero and reaches its largest value; ratios (in percent)
    /// that come near 100% get exactly 0–100%.
    fn new(caption: String, lines: Vec<StepLine>, percent: bool, height: u32) -> Panel {
        let largest = lines.iter().map(StepLine::largest).fold(0.0, f64::max);
        let ticks = tick_count(height.saturating_sub(CAPTION_SPACE + TICKS_BELOW), 36);
        let scale = if percent && largest > 80.0 {
            Scale::fixed(100.0, ticks)
        } else {
            Scale::from_zero(largest, ticks)
        };
        Panel { caption, scale, lines }
    }

    /// A panel of times in seconds: on a logarithmic axis when they span a factor of
    /// [`LOG_SPREAD`] or more (a 10 s timeout next to 100 ms responses), else linear in ms or s.
    fn times(caption: &str, mut lines: Vec<StepLine>, height: u32) -> Panel {
        let positive = || lines.iter().flat_map(StepLine::values).filter(|v| *v > 0.0);
        let lo = positive().fold(f64::INFINITY, f64::min);
        let hi = positive().fold(0.0, f64::max);
        if lo.is_finite() && hi >= lo * LOG_SPREAD {
            let bottom = lo.log10().floor();
            let top = hi.log10() + 0.04 * (hi.log10() - bottom);
            // As many ticks per decade as fit about one per 20 pixels.
            let room = f64::from(height.saturating_sub(CAPTION_SPACE + TICKS_BELOW)) / 20.0;
            let multiples: &[f64] = match room / (top - bottom) {
                r if r >= 3.0 => &[1.0, 2.0, 5.0],
                r if r >= 2.0 => &[1.0, 3.0],
                _ => &[1.0],
            };
            let ticks = (bottom as i32..=top.ceil() as i32)
                .flat_map(|d| multiples.iter().map(move |m| (m * 10f64.powi(d)).log10()))
                .filter(|t| (bottom..=top).contains(t))
                .collect();
            return Panel {
                caption: format!("{caption} (log scale)"),
                scale: Scale { top, ticks, decimals: 0, bottom, log: true },
                lines,
            };
        }
        let unit: Unit = time_unit(hi);
        for line in &mut lines {
            for step in &mut line.steps {
                step.2 *= unit.scale;
            }
        }
        Panel::new(format!("{caption} ({})", unit.symbol), lines, false, height)
    }

    /// Pixels of the panel: `height`, and a line above the plot per note on lines that
    /// coincide.
    fn height(&self, height: u32) -> u32 {
        height + self.coinciding().len() as u32 * NOTE_LINE
    }

    /// Where `value` is drawn on the y axis, if anywhere.
    fn y(&self, value: f64) -> Option<f64> {
        let y = if self.scale.log { (value > 0.0).then(|| value.log10())? } else { value };
        y.is_finite().then(|| y.clamp(self.scale.bottom, self.scale.top))
    }

    /// A tick label.
    fn label(&self, y: f64) -> String {
        if !self.scale.log {
            return self.scale.label(y);
        }
        let seconds = 10f64.powf(y);
        let rounded = |x: f64| super::chart::format_number((x * 1e3).round() / 1e3);
        if seconds >= 1.0 {
            format!("{} s", rounded(seconds))
        } else if seconds >= 1e-3 {
            format!("{} ms", rounded(seconds * 1e3))
        } else {
            format!("{} µs", rounded(seconds * 1e6))
        }
    }

    /// Named lines that hold one value throughout and share it with another (so that one hides
    /// the others), grouped by that value, in drawing order.
    fn coinciding(&self) -> Vec<(f64, Vec<&StepLine>)> {
        let mut groups: Vec<(f64, Vec<&StepLine>)> = Vec::new();
        for line in self.lines.iter().filter(|l| !l.name.is_empty()) {
            let Some(value) = line.constant() else { continue };
            match groups.iter_mut().find(|(v, _)| (v - value).abs() <= 1e-9 * value.abs().max(1.0)) {
                Some((_, group)) => group.push(line),
                None => groups.push((value, vec![line])),
            }
        }
        groups.retain(|(_, group)| group.len() > 1);
        groups
    }
}

/// Draws `panel` on `area` against `axis`, with a dashed line at each of `marks` \[s\]; names
/// the axis under it when `last`.
fn draw_panel(area: &Area<'_>, axis: &TimeAxis, panel: &Panel, marks: &[f64], last: bool) -> Drawn {
    let notes = panel.coinciding();
    let mut chart = ChartBuilder::on(area)
        .margin_top(CAPTION_SPACE + notes.len() as u32 * NOTE_LINE)
        .margin_left(PLOT_LEFT - 60)
        .margin_right(PLOT_RIGHT)
        .margin_bottom(2)
        .x_label_area_size(if last { TICKS_BELOW + DESC_BELOW } else { TICKS_BELOW })
        .y_label_area_size(60)
        .build_cartesian_2d(
            Ticked::new(axis.range.clone(), axis.ticks.clone()),
            Ticked::new(panel.scale.bottom..panel.scale.top, panel.scale.ticks.clone()),
        )?;
    let x_label = |t: &f64| axis.label(*t);
    let y_label = |y: &f64| panel.label(*y);
    chart
        .configure_mesh()
        .bold_line_style(GRID)
        .axis_style(AXIS)
        .label_style(font(12.0))
        .axis_desc_style(font(12.0).color(&MUTED))
        .x_desc(if last { axis.desc() } else { "" })
        .x_label_formatter(&x_label)
        .y_label_formatter(&y_label)
        .draw()?;
    let plot = chart.plotting_area();
    draw_caption(area, &panel.caption, plot.get_pixel_range().0)?;
    for &at in marks {
        let dashed = MUTED.stroke_width(1);
        plot.draw(&DashedPathElement::new(
            vec![(at, panel.scale.bottom), (at, panel.scale.top)],
            5,
            4,
            dashed,
        ))?;
    }
    for line in &panel.lines {
        let style = line.color.stroke_width(line.width);
        let mut path: Vec<(f64, f64)> = Vec::new();
        for &(start, end, value) in &line.steps {
            let Some(y) = panel.y(value) else {
                if path.len() > 1 {
                    plot.draw(&PathElement::new(std::mem::take(&mut path), style))?;
                }
                path.clear();
                continue;
            };
            path.push((start, y));
            path.push((end, y));
        }
        if path.len() > 1 {
            plot.draw(&PathElement::new(path, style))?;
        }
    }
    draw_notes(area, &plot.get_pixel_range().0, panel, &notes)
}

/// Names the lines that coincide throughout (several policies without any errors), each with
/// a swatch of its colour, between the caption and the plot: otherwise the line drawn last
/// hides the others.
fn draw_notes(area: &Area<'_>, plot_x: &Range<i32>, panel: &Panel, notes: &[(f64, Vec<&StepLine>)]) -> Drawn {
    let base_x = area.get_base_pixel().0;
    let (left, right) = (plot_x.start - base_x, plot_x.end - base_x);
    let top = Pos::new(HPos::Left, VPos::Top);
    for (n, (value, lines)) in notes.iter().enumerate() {
        let y = (CAPTION_SPACE + n as u32 * NOTE_LINE) as i32 - 1;
        let shown = if panel.scale.log { panel.label(value.log10()) } else { panel.scale.label(*value) };
        let lead = format!("all at {shown} throughout:");
        area.draw(&Text::new(lead.clone(), (left, y), font(NOTE_PX).color(&MUTED).pos(top)))?;
        let mut x = left + text_width(&lead, NOTE_PX) as i32 + 8;
        for line in lines {
            if x + 40 > right {
                break;
            }
            let name = fit(&line.name, NOTE_PX, (right - x - 14).max(0) as u32);
            area.draw(&Rectangle::new([(x, y + 2), (x + 9, y + 11)], line.color.filled()))?;
            area.draw(&Text::new(name.clone(), (x + 13, y), font(NOTE_PX).pos(top)))?;
            x += 13 + text_width(&name, NOTE_PX) as i32 + 12;
        }
    }
    Ok(())
}

/// Where a marker label goes: its text, its row, and its left pixel.
#[derive(Debug)]
struct Placed {
    text: String,
    row: usize,
    left: i32,
    /// The marker's pixel.
    at: i32,
}

/// Places a label per mark over a plot spanning `plot_x` in an area `width` pixels wide: right
/// of its line if it fits there, else left of it, on the first row where it collides with no
/// other label. A label is the mark's time and what happened, or with `brief` the time alone.
fn place_marks(
    axis: &TimeAxis,
    report: &Report,
    plot_x: &Range<u32>,
    width: u32,
    brief: bool,
) -> Vec<Placed> {
    let Some(timeline) = &report.timeline else { return Vec::new() };
    let label = |at: f64, what: &str| {
        if brief { axis.instant(at) } else { format!("{} {what}", axis.instant(at)) }
    };
    let mut marks: Vec<(f64, String)> =
        timeline.marks.iter().map(|m| (m.at_s, label(m.at_s, &m.label))).collect();
    marks.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut rows: Vec<Vec<Range<i32>>> = vec![Vec::new(); MARK_ROWS];
    marks
        .into_iter()
        .filter(|(at, _)| axis.range.contains(at) || *at == axis.range.end)
        .map(|(at, text)| {
            let x = axis.pixel(at, plot_x);
            let text = fit(&text, MARK_PX, (width * 2 / 3).min(400));
            let w = text_width(&text, MARK_PX) as i32;
            let left = if x + 4 + w <= width as i32 - 4 { x + 4 } else { (x - 4 - w).max(4) };
            let span = left - 6..left + w + 6;
            let row = rows
                .iter()
                .position(|r| r.iter().all(|o| o.end <= span.start || span.end <= o.start))
                .unwrap_or(MARK_ROWS - 1);
            rows[row].push(span);
            Placed { text, row, left, at: x }
        })
        .collect()
}

/// Pixels the marker labels take.
fn marks_height(placed: &[Placed]) -> u32 {
    placed.iter().map(|p| p.row as u32 + 1).max().map_or(0, |rows| rows * MARK_ROW + 6)
}

/// Draws the marker labels on `band`, each with a dashed line down to the band's bottom.
fn draw_marks(band: &Area<'_>, placed: &[Placed]) -> Drawn {
    let bottom = band.dim_in_pixel().1 as i32;
    for p in placed {
        let y = p.row as i32 * MARK_ROW as i32;
        band.draw(&Text::new(
            p.text.clone(),
            (p.left, y + 2),
            font(MARK_PX).pos(Pos::new(HPos::Left, VPos::Top)),
        ))?;
        band.draw(&DashedPathElement::new(vec![(p.at, y + 2), (p.at, bottom)], 5, 4, MUTED.stroke_width(1)))?;
    }
    Ok(())
}

/// `"2 replications"`.
fn replications(report: &Report) -> String {
    let n = report.variants.first().map_or(0, |v| v.replications);
    format!("{n} replication{}", if n == 1 { "" } else { "s" })
}

/// What the subtitle says about the time axis and windows.
fn reading(report: &Report, axis: &TimeAxis) -> String {
    let window =
        readable_duration(std::time::Duration::try_from_secs_f64(window_width(report)).unwrap_or_default());
    let clock = match &axis.date {
        Some(date) => format!(" Clock time in UTC on {date}."),
        None => String::new(),
    };
    let marks = if report.timeline.as_ref().is_some_and(|t| !t.marks.is_empty()) {
        " Dashed lines: the timeline's actions."
    } else {
        ""
    };
    format!("Per {window} window, mean over {}.{clock}{marks}", replications(report))
}

/// The times of the timeline's marks within `axis` \[s\].
fn mark_times(report: &Report, axis: &TimeAxis) -> Vec<f64> {
    let within = |at: &f64| axis.range.contains(at) || *at == axis.range.end;
    report
        .timeline
        .as_ref()
        .map_or_else(Vec::new, |t| t.marks.iter().map(|m| m.at_s).filter(within).collect())
}

fn no_series(report: &Report) -> String {
    super::chart::message(
        (WIDTH, 60),
        &format!("{}: the report has no time series to plot.", report.experiment),
    )
}

/// The time series of every variant, a line each: error ratio, p99 response time, and where the
/// experiment has them users affected, database utilization and attempts per request.
pub fn timeline(report: &Report) -> String {
    if report.timeseries.is_empty() {
        return no_series(report);
    }
    let layout = Layout::of(report);
    let axis = TimeAxis::of(report, WIDTH - PLOT_LEFT - PLOT_RIGHT);
    let shown = &report.timeseries[..report.timeseries.len().min(COLORS)];
    let left_out = if shown.len() < report.timeseries.len() {
        format!(" Showing the first {COLORS} of {} variants.", report.timeseries.len())
    } else {
        String::new()
    };
    let note = layout.label_note().map(|n| format!(" {n}")).unwrap_or_default();
    let header = Header {
        title: format!("{}: over time", report.experiment),
        subtitle: format!("{}{note}{left_out}", reading(report, &axis)),
        legend: shown
            .iter()
            .filter_map(|s| {
                Some((variant_name(&layout, s.variant, report.variants.get(s.variant)?), color(s.variant)))
            })
            .collect(),
    };
    let lines = |value: &dyn Fn(&Values<'_>) -> f64| -> Vec<StepLine> {
        shown
            .iter()
            .map(|s| {
                let mut line = StepLine::of(report, s, color(s.variant), value);
                line.name = report
                    .variants
                    .get(s.variant)
                    .map_or_else(String::new, |v| variant_name(&layout, s.variant, v));
                line
            })
            .collect()
    };
    let windows = || shown.iter().flat_map(|s| &s.windows).map(Values);
    let mut panels = vec![Panel::new(
        "error ratio (%): rejected, timed out and failed over requests ended".to_owned(),
        lines(&|w| PERCENT.scale * w.get(&WindowMetric::ErrorRatio)),
        true,
        PANEL_HEIGHT,
    )];
    panels.push(Panel::times(
        "p99 response time of successful requests",
        lines(&|w| w.get(&WindowMetric::ResponseTimeP99)),
        PANEL_HEIGHT,
    ));
    if windows().any(|w| w.get(&WindowMetric::UsersActive) > 0.0) {
        panels.push(Panel::new(
            "users affected (% of active users: a failed or too-slow request)".to_owned(),
            lines(&|w| PERCENT.scale * w.get(&WindowMetric::UsersAffectedRatio)),
            true,
            PANEL_HEIGHT,
        ));
    }
    if windows().any(|w| w.get(&WindowMetric::DatabaseUtilization).is_finite()) {
        let mut panel = Panel::new(
            "database utilization (%)".to_owned(),
            lines(&|w| PERCENT.scale * w.get(&WindowMetric::DatabaseUtilization)),
            true,
            PANEL_HEIGHT,
        );
        panel.scale = Scale::fixed(100.0, 5);
        panels.push(panel);
    }
    // Fleet groups: ready pods, and pods on their way in or out, summed over the groups.
    let groups: Vec<String> = {
        let mut names = Vec::new();
        for w in windows() {
            for key in w.0.keys() {
                if let Some(WindowMetric::ReadyReplicas(group)) = WindowMetric::from_name(key)
                    && !names.contains(&group)
                {
                    names.push(group);
                }
            }
        }
        names
    };
    if !groups.is_empty() {
        let sum = |w: &Values<'_>, metric: fn(String) -> WindowMetric| -> f64 {
            groups.iter().map(|g| w.get(&metric(g.clone()))).sum()
        };
        panels.push(Panel::new(
            "ready replicas (routable pods, fleet groups)".to_owned(),
            lines(&|w| sum(w, WindowMetric::ReadyReplicas)),
            false,
            PANEL_HEIGHT,
        ));
        panels.push(Panel::new(
            "starting + draining replicas (pods not routable but paid for)".to_owned(),
            lines(&|w| sum(w, WindowMetric::StartingReplicas) + sum(w, WindowMetric::DrainingReplicas)),
            false,
            PANEL_HEIGHT,
        ));
    }
    if report.any_above(Metric::AttemptsPerRequest, 1.001) {
        panels.push(Panel::new(
            "attempts per request (retries multiply the load)".to_owned(),
            lines(&|w| w.get(&WindowMetric::Attempts) / w.get(&WindowMetric::Arrived)),
            false,
            PANEL_HEIGHT,
        ));
    }
    // Overload controls (issue 12): what they turned away, and client breakers open.
    let turned_away = |w: &Values<'_>| {
        [WindowMetric::Overflowed, WindowMetric::Limited, WindowMetric::Shed, WindowMetric::HeldBack]
            .iter()
            .map(|m| w.get(m))
            .filter(|x| x.is_finite())
            .sum::<f64>()
    };
    if windows().any(|w| turned_away(&w) > 0.0) {
        panels.push(Panel::new(
            "turned away by overload controls (% of arrivals): overflow, 429, shed, held back".to_owned(),
            lines(&|w| PERCENT.scale * turned_away(w) / w.get(&WindowMetric::Arrived)),
            true,
            PANEL_HEIGHT,
        ));
    }
    if windows().any(|w| w.get(&WindowMetric::BreakersOpen) > 0.0) {
        panels.push(Panel::new(
            "client circuit breakers open or half-open (clients, at each window's end)".to_owned(),
            lines(&|w| w.get(&WindowMetric::BreakersOpen)),
            false,
            PANEL_HEIGHT,
        ));
    }
    let plot_x = PLOT_LEFT..WIDTH - PLOT_RIGHT;
    let placed = place_marks(&axis, report, &plot_x, WIDTH, false);
    let band = marks_height(&placed);
    let heights: Vec<u32> = panels.iter().map(|p| p.height(PANEL_HEIGHT)).collect();
    let height = header.height(WIDTH) + band + heights.iter().sum::<u32>() + DESC_BELOW;
    let marks = mark_times(report, &axis);
    render((WIDTH, height), |root| {
        let body = header.draw(root)?;
        let (top, mut rest) = body.split_vertically(band);
        draw_marks(&top, &placed)?;
        for (i, (panel, height)) in panels.iter().zip(&heights).enumerate() {
            let last = i + 1 == panels.len();
            let (area, below) = rest.split_vertically(height + if last { DESC_BELOW } else { 0 });
            draw_panel(&area, &axis, panel, &marks, last)?;
            rest = below;
        }
        Ok(())
    })
}

/// Per variant (a row each, at most eight), each backend's share of the requests routed and its
/// utilization, window by window. With more than ten backends the nine that ever took the
/// largest share have colours and the rest are grey.
pub fn timeline_backends(report: &Report) -> String {
    if report.timeseries.is_empty() {
        return no_series(report);
    }
    let layout = Layout::of(report);
    let column = WIDTH / 2;
    let axis = TimeAxis::of(report, column - PLOT_LEFT - PLOT_RIGHT);
    let shown = &report.timeseries[..report.timeseries.len().min(MAX_BACKEND_ROWS)];
    // Backend names in order of first appearance, and the largest share each ever took.
    let mut backends: Vec<(String, f64)> = Vec::new();
    for window in shown.iter().flat_map(|s| &s.windows) {
        for (key, value) in window {
            let Some(WindowMetric::Share(name)) = WindowMetric::from_name(key) else { continue };
            let share = if value.0.is_finite() { value.0 } else { 0.0 };
            match backends.iter_mut().find(|(n, _)| *n == name) {
                Some((_, peak)) => *peak = peak.max(share),
                None => backends.push((name, share)),
            }
        }
    }
    let colored: Vec<usize> = if backends.len() <= COLORS {
        (0..backends.len()).collect()
    } else {
        let mut by_peak: Vec<usize> = (0..backends.len()).collect();
        by_peak.sort_by(|&a, &b| backends[b].1.total_cmp(&backends[a].1));
        by_peak.truncate(COLORS - 1);
        by_peak.sort_unstable();
        by_peak
    };
    let color_of = |b: usize| colored.iter().position(|&c| c == b).map(color);
    let mut legend: Vec<(String, RGBColor)> =
        colored.iter().filter_map(|&b| Some((backends[b].0.clone(), color_of(b)?))).collect();
    if colored.len() < backends.len() {
        legend.push((format!("{} other backends", backends.len() - colored.len()), OTHER));
    }
    let left_out = if shown.len() < report.timeseries.len() {
        format!(" Showing the first {} of {} variants.", shown.len(), report.timeseries.len())
    } else {
        String::new()
    };
    let header = Header {
        title: format!("{}: backends over time", report.experiment),
        subtitle: format!(
            "Share of the requests routed to each backend, and its utilization (busy worker-time \
             over available worker-time). {}{left_out}",
            reading(report, &axis)
        ),
        legend,
    };
    // Per backend, a line: grey ones first, so the coloured ones are drawn over them.
    let lines_of = |series: &Series, metric: fn(String) -> WindowMetric, scale: f64| -> Vec<StepLine> {
        let mut order: Vec<usize> = (0..backends.len()).collect();
        order.sort_by_key(|&b| color_of(b).is_some());
        order
            .into_iter()
            .map(|b| (b, metric(backends[b].0.clone())))
            .filter(|(_, metric)| series.windows.iter().any(|w| w.contains_key(metric.name().as_ref())))
            .map(|(b, metric)| {
                let mut line =
                    StepLine::of(report, series, color_of(b).unwrap_or(OTHER), |w| scale * w.get(&metric));
                if color_of(b).is_none() {
                    line.width = 1;
                }
                line
            })
            .collect()
    };
    let mut rows: Vec<(Panel, Panel)> = shown
        .iter()
        .map(|s| {
            let name = report
                .variants
                .get(s.variant)
                .map_or_else(String::new, |v| variant_name(&layout, s.variant, v));
            let share = Panel::new(
                format!("{name}: share (%)"),
                lines_of(s, WindowMetric::Share, 100.0),
                true,
                BACKEND_PANEL_HEIGHT,
            );
            let mut utilization = Panel::new(
                format!("{name}: utilization (%)"),
                lines_of(s, WindowMetric::Utilization, 100.0),
                true,
                BACKEND_PANEL_HEIGHT,
            );
            utilization.scale = Scale::fixed(100.0, 5);
            (share, utilization)
        })
        .collect();
    // The same share scale in every row, so rows compare at a glance.
    if let Some(widest) = rows.iter().map(|r| r.0.scale.clone()).max_by(|a, b| a.top.total_cmp(&b.top)) {
        for (share, _) in &mut rows {
            share.scale = widest.clone();
        }
    }
    let plot_x = PLOT_LEFT..column - PLOT_RIGHT;
    // What happened is said once, over the left column; the right one gives the times alone.
    let placed = place_marks(&axis, report, &plot_x, column, false);
    let brief = place_marks(&axis, report, &plot_x, column, true);
    let band = marks_height(&placed).max(marks_height(&brief));
    let height = header.height(WIDTH) + band + rows.len() as u32 * BACKEND_PANEL_HEIGHT + DESC_BELOW;
    let marks = mark_times(report, &axis);
    render((WIDTH, height), |root| {
        let body = header.draw(root)?;
        let (top, mut rest) = body.split_vertically(band);
        let (left_band, right_band) = top.split_horizontally(column);
        draw_marks(&left_band, &placed)?;
        draw_marks(&right_band, &brief)?;
        for (i, (share, utilization)) in rows.iter().enumerate() {
            let last = i + 1 == rows.len();
            let (row, below) =
                rest.split_vertically(BACKEND_PANEL_HEIGHT + if last { DESC_BELOW } else { 0 });
            let (left, right) = row.split_horizontally(column);
            draw_panel(&left, &axis, share, &marks, last)?;
            draw_panel(&right, &axis, utilization, &marks, last)?;
            rest = below;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::plot::{all, over_time};

    /// A report with a variant per policy in `policies`, each with `windows` one-minute windows
    /// over `backends` backends, and a timeline: `start` (or none), app-0's weight raised at
    /// minute 10 and restored at minute 20. Errors and p99 rise between the two for the first
    /// variant only; `extra` is merged into every window. Built from JSON so that any later
    /// report field takes its default.
    fn report(
        start: Option<&str>,
        policies: &[&str],
        windows: usize,
        backends: usize,
        extra: Value,
    ) -> Report {
        let variants: Vec<Value> = policies
            .iter()
            .map(|p| {
                json!({"label": format!("policy={p}"), "params": {"policy": p}, "replications": 2,
                       "metrics": {"error_ratio": {"mean": 0.1, "ci95": 0.01}}, "backends": []})
            })
            .collect();
        let timeseries: Vec<Value> = (0..policies.len())
            .map(|v| {
                let windows: Vec<Value> = (0..windows)
                    .map(|w| {
                        let incident = v == 0 && (10..20).contains(&w);
                        let mut m = json!({
                            "start_s": 60 * w, "arrived": 100.0, "completed": 90.0, "attempts": 100.0,
                            "error_ratio": if incident { 0.4 } else { 0.0 },
                            "response_time_p99_s": if incident { 0.9 } else { 0.25 },
                            "database_utilization": null, "users_active": 0.0, "users_affected_ratio": 0.0,
                        });
                        for b in 0..backends {
                            let share = if incident && b == 0 { 0.7 } else { 1.0 / backends as f64 };
                            m[format!("app-{b}.share")] = json!(share);
                            m[format!("app-{b}.utilization")] = json!(share * 0.9);
                            m[format!("app-{b}.queue_mean")] = json!(0.0);
                        }
                        for (k, x) in extra.as_object().unwrap() {
                            m[k] = x.clone();
                        }
                        m
                    })
                    .collect();
                json!({"variant": v, "windows": windows})
            })
            .collect();
        let mut timeline = json!({"window_s": 60.0, "marks": [
            {"at_s": 600.0, "label": "misconfiguration (app-0 weight 6)"},
            {"at_s": 1200.0, "label": "fix (app-0 weight 1)"},
        ]});
        if let Some(start) = start {
            timeline["start"] = json!(start);
        }
        serde_json::from_value(json!({"experiment": "replay", "seed": 1, "variants": variants, "runs": [],
            "timeseries": timeseries, "timeline": timeline}))
        .unwrap()
    }

    fn assert_svg(svg: &str) {
        assert!(svg.starts_with("<svg ") && svg.trim_end().ends_with("</svg>"), "{svg}");
        assert!(!svg.contains("could not be drawn"), "{svg}");
        assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
    }

    fn text(svg: &str, text: &str) -> bool {
        svg.contains(&format!(">\n{text}\n<"))
    }

    #[test]
    fn clock_time_on_the_axis_and_actions_marked_with_their_time() {
        let report =
            report(Some("2024-03-08T13:00:00Z"), &["RoundRobin", "LeastConnections"], 30, 3, json!({}));
        let svg = timeline(&report);
        assert_svg(&svg);
        for tick in ["13:00", "13:10", "13:20", "13:30"] {
            assert!(text(&svg, tick), "tick {tick}");
        }
        assert!(text(&svg, "time (UTC)"));
        assert!(text(&svg, "13:10 misconfiguration (app-0 weight 6)"), "{svg}");
        assert!(text(&svg, "13:20 fix (app-0 weight 1)"), "{svg}");
        assert!(svg.contains("Clock time in UTC on 2024-03-08."));
        assert!(text(&svg, "RoundRobin") && text(&svg, "LeastConnections"), "a legend entry per variant");
        let backends = timeline_backends(&report);
        assert_svg(&backends);
        assert!(text(&backends, "app-2") && text(&backends, "LeastConnections: share (%)"));
        assert!(text(&backends, "13:10"), "the right column names the times alone");
    }

    #[test]
    fn ticks_fall_on_round_clock_times() {
        let report = report(Some("2024-03-08T13:07:00Z"), &["RoundRobin"], 30, 2, json!({}));
        let axis = TimeAxis::of(&report, WIDTH - PLOT_LEFT - PLOT_RIGHT);
        let labels: Vec<String> = axis.ticks.iter().map(|t| axis.label(*t)).collect();
        assert_eq!(labels, ["13:10", "13:15", "13:20", "13:25", "13:30", "13:35"]);
        assert_eq!(time_of_day(86_400.0 + 3_661.0, true), "01:01:01");
        assert_eq!(time_of_day(50_400.0, false), "14:00");
    }

    #[test]
    fn without_a_clock_the_axis_counts_from_the_start() {
        let short = report(None, &["RoundRobin"], 30, 2, json!({}));
        let svg = timeline(&short);
        assert_svg(&svg);
        assert!(text(&svg, "minutes from start") && text(&svg, "10"), "{svg}");
        assert!(text(&svg, "+10m misconfiguration (app-0 weight 6)"), "{svg}");
        let long = report(None, &["RoundRobin"], 300, 2, json!({}));
        let svg = timeline(&long);
        assert!(text(&svg, "hours from start") && text(&svg, "4"), "{svg}");
    }

    #[test]
    fn panels_follow_what_the_experiment_measured() {
        let plain = timeline(&report(None, &["RoundRobin"], 30, 2, json!({})));
        assert!(plain.contains("error ratio (%)") && plain.contains("p99 response time"));
        for absent in ["users affected", "database utilization", "attempts per request"] {
            assert!(!plain.contains(absent), "{absent}");
        }
        let mut full = report(
            None,
            &["RoundRobin"],
            30,
            2,
            json!({"users_active": 40.0, "users_affected_ratio": 0.25, "database_utilization": 0.3,
                   "attempts": 130.0}),
        );
        full.variants[0]
            .metrics
            .insert("attempts_per_request".into(), stacksim::stats::Estimate { mean: 1.3, ci95: 0.01 });
        let svg = timeline(&full);
        assert_svg(&svg);
        for present in ["users affected (%", "database utilization (%)", "attempts per request"] {
            assert!(svg.contains(present), "{present}");
        }
    }

    #[test]
    fn a_wide_range_of_response_times_is_drawn_on_a_log_scale() {
        let narrow = timeline(&report(None, &["RoundRobin"], 30, 2, json!({})));
        assert!(text(&narrow, "p99 response time of successful requests (ms)"), "{narrow}");
        let mut wide = report(None, &["RoundRobin", "Random"], 30, 2, json!({}));
        wide.timeseries[1].windows[15].insert("response_time_p99_s".into(), stacksim::report::Reading(10.0));
        let svg = timeline(&wide);
        assert_svg(&svg);
        assert!(text(&svg, "p99 response time of successful requests (log scale)"), "{svg}");
        assert!(text(&svg, "1 s") && text(&svg, "10 s"), "{svg}");
    }

    #[test]
    fn lines_that_coincide_throughout_are_named() {
        let svg = timeline(&report(
            None,
            &["RoundRobin", "LeastConnections", "PowerOfTwoChoices"],
            30,
            2,
            json!({}),
        ));
        assert_svg(&svg);
        // The first variant's errors and p99 rise; the other two stay at 0 errors and a 250 ms
        // p99 throughout, and hide each other.
        assert!(text(&svg, "all at 0 throughout:"), "{svg}");
        assert!(text(&svg, "all at 250 throughout:"), "{svg}");
        assert_eq!(svg.matches(">\nPowerOfTwoChoices\n<").count(), 3, "in the legend and in both notes");
        assert_eq!(svg.matches(">\nRoundRobin\n<").count(), 1, "only in the legend: its line shows");
    }

    #[test]
    fn windows_without_a_value_leave_gaps() {
        let mut report = report(None, &["RoundRobin"], 30, 2, json!({}));
        for w in 12..15 {
            report.timeseries[0].windows[w]
                .insert("response_time_p99_s".into(), stacksim::report::Reading(f64::NAN));
        }
        let svg = timeline(&report);
        assert_svg(&svg);
        let p99_paths = svg.matches("stroke-width=\"2\"").count();
        assert!(p99_paths >= 3, "the p99 line is split in two around the gap: {p99_paths} lines");
    }

    #[test]
    fn many_backends_keep_nine_colours_and_grey_the_rest() {
        let svg = timeline_backends(&report(None, &["RoundRobin"], 20, 14, json!({})));
        assert_svg(&svg);
        assert!(text(&svg, "5 other backends"), "{svg}");
        assert!(text(&svg, "app-0"), "the backend that took the largest share has a colour");
    }

    #[test]
    fn no_time_series_no_plots_over_time() {
        let mut report = report(None, &["RoundRobin"], 3, 2, json!({}));
        report.timeseries.clear();
        assert!(over_time(&report).is_empty());
        assert_eq!(all(&report).len(), 3);
        assert!(timeline(&report).contains("has no time series to plot"));
    }

    #[test]
    fn same_report_same_bytes_and_text_escaped() {
        let mut report = report(Some("2024-03-08T13:00:00Z"), &["A<B", "C&D"], 30, 3, json!({}));
        report.timeline.as_mut().unwrap().marks[0].label = "<b>bad</b>".into();
        let plots = over_time(&report);
        assert_eq!(plots, over_time(&report.clone()));
        for plot in &plots {
            assert_svg(&plot.svg);
            assert!(!plot.svg.contains("<b>") && !plot.svg.contains("A<B"), "{}", plot.svg);
        }
        assert!(plots[0].svg.contains("&lt;b&gt;bad&lt;/b&gt;") && plots[0].svg.contains("A&lt;B"));
    }
}
