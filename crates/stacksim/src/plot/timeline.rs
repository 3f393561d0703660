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
//! 4. Values are means over replications (no intervals: a window's spread over replications is
//!    in `timeseries.csv`'s runs, not here).

use std::ops::Range;

use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::chart::{
    AXIS, Area, CAPTION_SPACE, COLORS, Drawn, GRID, Header, MUTED, PERCENT, Scale, Ticked, Unit, WIDTH,
    color, draw_caption, fit, font, render, text_width, tick_count, time_unit,
};
use super::{Layout, variant_name};
use crate::report::{Report, Series};

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
                format!("+{}", humantime::format_duration(std::time::Duration::from_secs_f64(t.max(0.0))))
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
        .map(|(i, w)| w.get("start_s").map_or(i as f64 * window_s, |m| m.0));
    let (lo, hi) = starts.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), s| (lo.min(s), hi.max(s)));
    if lo.is_finite() && hi.is_finite() { lo..hi + window_s } else { 0.0..window_s }
}

/// The width of a window [s]: the timeline's, else the spacing of the first two windows, else
/// a minute.
fn window_width(report: &Report) -> f64 {
    let from_timeline = report.timeline.as_ref().map(|t| t.window_s).filter(|w| *w > 0.0);
    from_timeline
        .or_else(|| {
            let windows = &report.timeseries.first()?.windows;
            let start = |i: usize| windows.get(i)?.get("start_s").map(|m| m.0);
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
    fn of(report: &Report, series: &Series, color: RGBColor, value: impl Fn(&Window<'_>) -> f64) -> StepLine {
        let width = window_width(report);
        let steps = series
            .windows
            .iter()
            .enumerate()
            .map(|(i, w)| {
                let start = w.get("start_s").map_or(i as f64 * width, |m| m.0);
                (start, start + width, value(&Window(w)))
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
struct Window<'a>(&'a indexmap::IndexMap<String, crate::report::Metric>);

impl Window<'_> {
    fn get(&self, name: &str) -> f64 {
        self.0.get(name).map_or(f64::NAN, |m| m.0)
    }
}

/// A panel of step lines against time.
#[derive(Debug)]
struct Panel {
    caption: String,
    /// The y axis, from `bottom`; in log10 of the values when `log`.
    scale: Scale,
    bottom: f64,
    /// A logarithmic axis of times in seconds.
    log: bool,
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
        Panel { caption, scale, bottom: 0.0, log: false, lines }
    }

    /// A panel of times in seconds: on a logarithmic axis when they span more than a factor of
    /// 20 (a 10 s timeout next to 100 ms responses), else linear in ms or s.
    fn times(caption: &str, mut lines: Vec<StepLine>, height: u32) -> Panel {
        let positive = || lines.iter().flat_map(StepLine::values).filter(|v| *v > 0.0);
        let lo = positive().fold(f64::INFINITY, f64::min);
        let hi = positive().fold(0.0, f64::max);
        if lo.is_finite() && hi / lo >= 20.0 {
            let bottom = lo.log10().floor();
            let top = hi.log10() + 0.04 * (hi.log10() - bottom);
            let decades = (top - bottom).ceil() as i32;
            let multiples: &[f64] = if decades <= 3 { &[1.0, 2.0, 5.0] } else { &[1.0] };
            let ticks = (bottom as i32..=top.ceil() as i32)
                .flat_map(|d| multiples.iter().map(move |m| (m * 10f64.powi(d)).log10()))
                .filter(|t| (bottom..=top).contains(t))
                .collect();
            return Panel {
                caption: format!("{caption} (log scale)"),
                scale: Scale { top, ticks, decimals: 0 },
                bottom,
                log: true,
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

    /// Where `value` is drawn on the y axis, if anywhere.
    fn y(&self, value: f64) -> Option<f64> {
        let y = if self.log { (value > 0.0).then(|| value.log10())? } else { value };
        y.is_finite().then(|| y.clamp(self.bottom, self.scale.top))
    }

    /// A tick label.
    fn label(&self, y: f64) -> String {
        if !self.log {
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

/// Draws `panel` on `area` against `axis`, with a dashed line at each of `marks` [s]; names
/// the axis under it when `last`.
fn draw_panel(area: &Area<'_>, axis: &TimeAxis, panel: &Panel, marks: &[f64], last: bool) -> Drawn {
    let mut chart = ChartBuilder::on(area)
        .margin_top(CAPTION_SPACE)
        .margin_left(PLOT_LEFT - 60)
        .margin_right(PLOT_RIGHT)
        .margin_bottom(2)
        .x_label_area_size(if last { TICKS_BELOW + DESC_BELOW } else { TICKS_BELOW })
        .y_label_area_size(60)
        .build_cartesian_2d(
            Ticked::new(axis.range.clone(), axis.ticks.clone()),
            Ticked::new(panel.bottom..panel.scale.top, panel.scale.ticks.clone()),
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
        plot.draw(&DashedPathElement::new(vec![(at, panel.bottom), (at, panel.scale.top)], 5, 4, dashed))?;
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
    draw_coinciding(area, &plot.get_pixel_range(), panel)
}

/// Names the lines that coincide throughout (several policies with no errors at all), each in
/// its colour, at the top left of the plot: otherwise the last one drawn hides the others.
fn draw_coinciding(area: &Area<'_>, plot: &(Range<i32>, Range<i32>), panel: &Panel) -> Drawn {
    let (base_x, base_y) = area.get_base_pixel();
    let mut y = plot.1.start - base_y + 4;
    let left = plot.0.start - base_x + 6;
    let right = plot.0.end - base_x - 6;
    let px = 11.0;
    let top = Pos::new(HPos::Left, VPos::Top);
    for (value, lines) in panel.coinciding() {
        let shown = if panel.log { panel.label(value.log10()) } else { panel.scale.label(value) };
        let lead = format!("all at {shown} throughout: ");
        let mut pieces: Vec<(String, RGBColor)> = vec![(lead, MUTED)];
        for (i, line) in lines.iter().enumerate() {
            let comma = if i + 1 < lines.len() { ", " } else { "" };
            pieces.push((format!("{}{comma}", line.name), line.color));
        }
        let width: i32 = pieces.iter().map(|(t, _)| text_width(t, px) as i32).sum();
        let end = (left + width + 4).min(right);
        area.draw(&Rectangle::new([(left - 3, y - 2), (end, y + 14)], WHITE.mix(0.85).filled()))?;
        let mut x = left;
        for (text, color) in pieces {
            let text = fit(&text, px, (right - x).max(0) as u32);
            let w = text_width(&text, px) as i32;
            area.draw(&Text::new(text, (x, y), font(px).color(&color).pos(top)))?;
            x += w;
            if x >= right {
                break;
            }
        }
        y += 16;
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
    let window = humantime::format_duration(std::time::Duration::from_secs_f64(window_width(report)));
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

fn mark_times(report: &Report) -> Vec<f64> {
    report.timeline.as_ref().map_or_else(Vec::new, |t| t.marks.iter().map(|m| m.at_s).collect())
}

fn no_series(report: &Report) -> String {
    super::chart::message(
        (WIDTH, 60),
        &format!("{}: the report has no time series to plot.", report.experiment),
    )
}

/// Whether any variant's `metric` has a mean above `above`.
fn any_above(report: &Report, metric: &str, above: f64) -> bool {
    report.variants.iter().any(|v| v.metrics.get(metric).is_some_and(|e| e.mean > above))
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
    let lines = |value: &dyn Fn(&Window<'_>) -> f64| -> Vec<StepLine> {
        shown
            .iter()
            .map(|s| {
                let mut line = StepLine::of(report, s, color(s.variant), value);
                line.name = report.variants.get(s.variant).map_or_else(String::new, |v| variant_name(&layout, s.variant, v));
                line
            })
            .collect()
    };
    let windows = || shown.iter().flat_map(|s| &s.windows).map(Window);
    let mut panels = vec![Panel::new(
        "error ratio (%): rejected, timed out and failed over requests ended".to_owned(),
        lines(&|w| PERCENT.scale * w.get("error_ratio")),
        true,
        PANEL_HEIGHT,
    )];
    panels.push(Panel::times(
        "p99 response time of successful requests",
        lines(&|w| w.get("response_time_p99_s")),
        PANEL_HEIGHT,
    ));
    if windows().any(|w| w.get("users_active") > 0.0) {
        panels.push(Panel::new(
            "users affected (% of active users: a failed or too-slow request)".to_owned(),
            lines(&|w| PERCENT.scale * w.get("users_affected_ratio")),
            true,
            PANEL_HEIGHT,
        ));
    }
    if windows().any(|w| w.get("database_utilization").is_finite()) {
        let mut panel = Panel::new(
            "database utilization (%)".to_owned(),
            lines(&|w| PERCENT.scale * w.get("database_utilization")),
            true,
            PANEL_HEIGHT,
        );
        panel.scale = Scale::fixed(100.0, 5);
        panels.push(panel);
    }
    if any_above(report, "attempts_per_request", 1.001) {
        panels.push(Panel::new(
            "attempts per request (retries multiply the load)".to_owned(),
            lines(&|w| w.get("attempts") / w.get("arrived")),
            false,
            PANEL_HEIGHT,
        ));
    }
    let plot_x = PLOT_LEFT..WIDTH - PLOT_RIGHT;
    let placed = place_marks(&axis, report, &plot_x, WIDTH, false);
    let band = marks_height(&placed);
    let height = header.height(WIDTH) + band + panels.len() as u32 * PANEL_HEIGHT + DESC_BELOW;
    let marks = mark_times(report);
    render((WIDTH, height), |root| {
        let body = header.draw(root)?;
        let (top, mut rest) = body.split_vertically(band);
        draw_marks(&top, &placed)?;
        for (i, panel) in panels.iter().enumerate() {
            let last = i + 1 == panels.len();
            let (area, below) = rest.split_vertically(PANEL_HEIGHT + if last { DESC_BELOW } else { 0 });
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
            let Some(name) = key.strip_suffix(".share") else { continue };
            let share = if value.0.is_finite() { value.0 } else { 0.0 };
            match backends.iter_mut().find(|(n, _)| n == name) {
                Some((_, peak)) => *peak = peak.max(share),
                None => backends.push((name.to_owned(), share)),
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
    let lines_of = |series: &Series, metric: &str, scale: f64| -> Vec<StepLine> {
        let mut order: Vec<usize> = (0..backends.len()).collect();
        order.sort_by_key(|&b| color_of(b).is_some());
        order
            .into_iter()
            .filter(|&b| {
                series.windows.iter().any(|w| w.contains_key(&format!("{}.{metric}", backends[b].0)))
            })
            .map(|b| {
                let key = format!("{}.{metric}", backends[b].0);
                let mut line =
                    StepLine::of(report, series, color_of(b).unwrap_or(OTHER), |w| scale * w.get(&key));
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
                lines_of(s, "share", 100.0),
                true,
                BACKEND_PANEL_HEIGHT,
            );
            let mut utilization = Panel::new(
                format!("{name}: utilization (%)"),
                lines_of(s, "utilization", 100.0),
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
    let marks = mark_times(report);
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
