//! Drawing primitives the plots share: the canvas, a header with title and legend, and panels
//! of horizontal bars, grouped vertical bars and lines with 95% CI whiskers.

use std::error::Error;

use std::ops::Range;

use plotters::coord::Shift;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use stacksim::stats::Estimate;

/// A region of an SVG canvas, in pixels.
pub(crate) type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;

/// What drawing returns: plotters' errors, boxed.
pub(crate) type Drawn<T = ()> = Result<T, Box<dyn Error>>;

/// Canvas width in pixels; heights depend on what is drawn.
pub(crate) const WIDTH: u32 = 960;

/// Tableau 10: ten colours that stay distinguishable, also for colour-blind readers.
const PALETTE: [RGBColor; 10] = [
    RGBColor(78, 121, 167),
    RGBColor(242, 142, 43),
    RGBColor(225, 87, 89),
    RGBColor(118, 183, 178),
    RGBColor(89, 161, 79),
    RGBColor(237, 201, 72),
    RGBColor(176, 122, 161),
    RGBColor(255, 157, 167),
    RGBColor(156, 117, 95),
    RGBColor(186, 176, 172),
];

/// How many series get a colour of their own.
pub(crate) const COLORS: usize = PALETTE.len();

pub(crate) const INK: RGBColor = RGBColor(34, 34, 34);
pub(crate) const MUTED: RGBColor = RGBColor(96, 96, 96);
pub(crate) const AXIS: RGBColor = RGBColor(150, 150, 150);
pub(crate) const GRID: RGBColor = RGBColor(228, 228, 228);

/// A linear axis whose tick marks, labels and grid lines are exactly `ticks`.
#[derive(Clone, Debug)]
pub(crate) struct Ticked {
    range: Range<f64>,
    ticks: Vec<f64>,
}

impl Ticked {
    pub fn new(range: Range<f64>, ticks: Vec<f64>) -> Ticked {
        Ticked { range, ticks }
    }
}

impl Ranged for Ticked {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let Range { start, end } = self.range;
        let t = (value - start) / (end - start);
        let length = f64::from(limit.1 - limit.0);
        if !t.is_finite() {
            return limit.0;
        }
        // Clamped far outside the canvas, so a stray value never overflows a pixel coordinate.
        limit.0 + (length * t.clamp(-10.0, 10.0)).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() { Vec::new() } else { self.ticks.clone() }
    }

    fn range(&self) -> Range<f64> {
        self.range.clone()
    }
}

/// The colour of series `i`.
pub(crate) fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// Sans-serif text `px` pixels high in the SVG (plotters writes `size / 1.24` as font-size).
pub(crate) fn font(px: f64) -> TextStyle<'static> {
    FontDesc::new(FontFamily::SansSerif, px * 1.24, FontStyle::Normal).color(&INK)
}

pub(crate) fn bold(px: f64) -> TextStyle<'static> {
    FontDesc::new(FontFamily::SansSerif, px * 1.24, FontStyle::Bold).color(&INK)
}

/// A slightly generous estimate of the width of `text` in a `px`-pixel sans-serif font (the
/// viewer picks the font, so this is what layout can know).
pub(crate) fn text_width(text: &str, px: f64) -> u32 {
    (text.chars().map(char_width).sum::<f64>() * px).ceil() as u32
}

/// Advance width in em, close to the widest common sans-serifs (DejaVu Sans, Verdana).
fn char_width(c: char) -> f64 {
    match c {
        'i' | 'j' | 'l' | '.' | ',' | ':' | ';' | '\'' | '|' | '!' | 'I' => 0.32,
        'f' | 't' | 'r' | '(' | ')' | '[' | ']' | ' ' | '-' => 0.42,
        'm' | 'w' | 'M' | 'W' | '%' | '@' => 0.92,
        'A'..='Z' => 0.72,
        '0'..='9' => 0.64,
        _ => 0.62,
    }
}

/// `text`, shortened with an ellipsis to fit `width` pixels at `px`.
pub(crate) fn fit(text: &str, px: f64, width: u32) -> String {
    if text_width(text, px) <= width {
        return text.to_owned();
    }
    let mut short = String::new();
    for c in text.chars() {
        if text_width(&short, px) + text_width(&format!("{c}…"), px) > width {
            break;
        }
        short.push(c);
    }
    short.push('…');
    short
}

/// `text` broken at spaces into lines that fit `width` pixels at `px` (a word longer than a
/// line is cut to fit).
pub(crate) fn wrap(text: &str, px: f64, width: u32) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        let candidate = if line.is_empty() { word.to_owned() } else { format!("{line} {word}") };
        if text_width(&candidate, px) <= width || line.is_empty() {
            line = candidate;
        } else {
            lines.push(std::mem::replace(&mut line, word.to_owned()));
        }
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines.into_iter().map(|l| fit(&l, px, width)).collect()
}

/// Draws with `draw` on a white canvas of `size` and returns the SVG document. If plotters
/// fails (it should not: the target is a string), the document says so instead.
pub(crate) fn render(size: (u32, u32), draw: impl FnOnce(&Area<'_>) -> Drawn) -> String {
    let mut svg = String::new();
    let outcome = {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE)
            .map_err(Box::<dyn Error>::from)
            .and_then(|()| draw(&root))
            .and_then(|()| root.present().map_err(Box::<dyn Error>::from))
    };
    match outcome {
        Ok(()) => svg,
        Err(error) => message(size, &format!("This plot could not be drawn: {error}")),
    }
}

/// An SVG document of `size` that shows one line of text.
pub(crate) fn message(size: (u32, u32), text: &str) -> String {
    let (w, h) = size;
    format!(
        "<svg width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" \
         xmlns=\"http://www.w3.org/2000/svg\">\n<rect width=\"{w}\" height=\"{h}\" \
         fill=\"#FFFFFF\"/>\n<text x=\"16\" y=\"32\" font-family=\"sans-serif\" \
         font-size=\"14\">{}</text>\n</svg>\n",
        escape(text)
    )
}

/// `text` with `& < > " '` replaced by character references, safe in HTML text and attributes.
pub fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            other => escaped.push(other),
        }
    }
    escaped
}

/// The top of a plot: a title, a line saying how to read it, and a legend.
#[derive(Debug)]
pub(crate) struct Header {
    pub title: String,
    pub subtitle: String,
    /// Label and colour of each series.
    pub legend: Vec<(String, RGBColor)>,
}

const TITLE_PX: f64 = 18.0;
const TEXT_PX: f64 = 13.0;
const LINE: u32 = 18;
const LEGEND_ROW: u32 = 20;
const SUBTITLE_TOP: u32 = 38;

impl Header {
    fn subtitle_lines(&self, width: u32) -> Vec<String> {
        wrap(&self.subtitle, TEXT_PX, width - 32)
    }

    fn legend_top(&self, width: u32) -> u32 {
        SUBTITLE_TOP + self.subtitle_lines(width).len() as u32 * LINE + 6
    }

    /// Legend entries as rows of `(entry, x)` that fit in `width`.
    fn legend_rows(&self, width: u32) -> Vec<Vec<(usize, u32)>> {
        let mut rows: Vec<Vec<(usize, u32)>> = Vec::new();
        let mut x = u32::MAX;
        for (i, (label, _)) in self.legend.iter().enumerate() {
            let entry = 18 + text_width(label, TEXT_PX).min(width / 2) + 22;
            if x.saturating_add(entry) > width - 16 {
                rows.push(Vec::new());
                x = 16;
            }
            rows.last_mut().expect("a row was pushed").push((i, x));
            x += entry;
        }
        rows
    }

    /// Pixels the header takes.
    pub fn height(&self, width: u32) -> u32 {
        self.legend_top(width) + self.legend_rows(width).len() as u32 * LEGEND_ROW + 6
    }

    /// Draws the header at the top of `root` and returns the area below it.
    pub fn draw<'a>(&self, root: &Area<'a>) -> Drawn<Area<'a>> {
        let width = root.dim_in_pixel().0;
        let top = Pos::new(HPos::Left, VPos::Top);
        root.draw(&Text::new(fit(&self.title, TITLE_PX, width - 32), (16, 12), bold(TITLE_PX).pos(top)))?;
        for (l, line) in self.subtitle_lines(width).into_iter().enumerate() {
            let y = (SUBTITLE_TOP + l as u32 * LINE) as i32;
            root.draw(&Text::new(line, (16, y), font(TEXT_PX).color(&MUTED).pos(top)))?;
        }
        let legend_top = self.legend_top(width);
        for (r, row) in self.legend_rows(width).iter().enumerate() {
            let y = (legend_top + r as u32 * LEGEND_ROW) as i32;
            for &(i, x) in row {
                let (label, color) = &self.legend[i];
                let x = x as i32;
                root.draw(&Rectangle::new([(x, y + 2), (x + 12, y + 14)], color.filled()))?;
                root.draw(&Text::new(
                    fit(label, TEXT_PX, width / 2),
                    (x + 18, y + 1),
                    font(TEXT_PX).pos(top),
                ))?;
            }
        }
        Ok(root.split_vertically(self.height(width)).1)
    }
}

/// A unit for an axis: values are multiplied by `scale` and shown with `symbol`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Unit {
    pub scale: f64,
    pub symbol: &'static str,
}

/// Percent, for ratios.
pub(crate) const PERCENT: Unit = Unit { scale: 100.0, symbol: "%" };

/// Seconds when the largest value shown is at least a second, milliseconds below.
pub(crate) fn time_unit(largest_s: f64) -> Unit {
    if largest_s >= 1.0 { Unit { scale: 1.0, symbol: "s" } } else { Unit { scale: 1e3, symbol: "ms" } }
}

impl Unit {
    /// `estimate` in this unit, if it has a value.
    pub fn of(self, estimate: Option<Estimate>) -> Option<Estimate> {
        estimate
            .filter(|e| e.mean.is_finite())
            .map(|e| Estimate { mean: e.mean * self.scale, ci95: e.ci95 * self.scale })
    }
}

/// The top of an interval: mean plus its CI where there is one.
fn upper(e: Estimate) -> f64 {
    e.mean + whisker(e).unwrap_or(0.0)
}

fn whisker(e: Estimate) -> Option<f64> {
    Some(e.ci95).filter(|ci| ci.is_finite() && *ci > 0.0)
}

/// The value axis of a panel: ticks at round numbers from 0 to a top at or above the largest
/// value, or, on a logarithmic axis, at powers of ten.
///
/// `bottom`, `top` and `ticks` are in plot coordinates: the values themselves on a linear axis,
/// their base-10 logarithms on a logarithmic one. [`Scale::at`] takes a value there.
#[derive(Clone, Debug)]
pub(crate) struct Scale {
    pub top: f64,
    pub ticks: Vec<f64>,
    /// Decimal places that tell the ticks apart.
    pub decimals: usize,
    /// Where the axis starts: 0, or on a logarithmic axis the power of ten below the smallest
    /// value.
    pub bottom: f64,
    /// Whether the axis is logarithmic.
    pub log: bool,
}

/// Times this many times apart, or more, are drawn on a logarithmic axis: on a linear one the
/// smaller would be slivers beside the largest (one overloaded variant would hide how the others
/// differ).
pub(crate) const LOG_SPREAD: f64 = 20.0;

/// Whether the means of `values` (the positive ones) span [`LOG_SPREAD`] or more.
pub(crate) fn spread_wide(values: impl IntoIterator<Item = Estimate>) -> bool {
    let means = values.into_iter().map(|e| e.mean).filter(|m| m.is_finite() && *m > 0.0);
    let (lo, hi) = means.fold((f64::INFINITY, 0.0_f64), |(lo, hi), m| (lo.min(m), hi.max(m)));
    hi >= lo * LOG_SPREAD
}

impl Scale {
    /// About `ticks` ticks from 0 to just above `largest` (0 to 1 when there is nothing to
    /// show).
    pub fn from_zero(largest: f64, ticks: usize) -> Scale {
        let largest = if largest.is_finite() && largest > 0.0 { largest } else { 1.0 };
        let step = nice_step(largest / ticks.max(1) as f64);
        let steps = (largest * 1.04 / step).ceil().max(1.0) as usize;
        Scale {
            top: steps as f64 * step,
            ticks: (0..=steps).map(|k| k as f64 * step).collect(),
            decimals: decimals(step),
            bottom: 0.0,
            log: false,
        }
    }

    /// A logarithmic axis from the power of ten at or below `smallest` to `largest` (both
    /// positive), ticks at every power of ten between (and at 2 and 5 times them when that makes
    /// fewer than three).
    pub fn log(smallest: f64, largest: f64) -> Scale {
        let bottom = smallest.log10().floor();
        let top = largest.log10().max(bottom + 1.0);
        let decades: Vec<f64> = (bottom as i32..=top.floor() as i32).map(f64::from).collect();
        let ticks = if decades.len() >= 3 {
            decades
        } else {
            decades
                .iter()
                .flat_map(|d| [0.0, 2f64.log10(), 5f64.log10()].map(|m| d + m))
                .filter(|t| *t <= top + 1e-9)
                .collect()
        };
        Scale { top, ticks, decimals: 0, bottom, log: true }
    }

    /// Where `value` goes on the axis: itself on a linear axis, its logarithm on a logarithmic
    /// one (the bottom for zero and below).
    pub fn at(&self, value: f64) -> f64 {
        match self.log {
            false => value,
            true if value > 0.0 => value.log10().max(self.bottom),
            true => self.bottom,
        }
    }

    /// Exactly 0 to `top` (0 to 1 when there is nothing to show), with about `ticks` ticks at
    /// round numbers.
    pub fn fixed(top: f64, ticks: usize) -> Scale {
        let top = if top.is_finite() && top > 0.0 { top } else { 1.0 };
        let mut scale = Scale::from_zero(top / 1.05, ticks);
        scale.top = top;
        scale.ticks.retain(|t| *t <= top * (1.0 + 1e-9));
        scale
    }

    /// A tick label: the value at `tick` (a plot coordinate).
    pub fn label(&self, tick: f64) -> String {
        if self.log {
            return format_number(10f64.powf(tick));
        }
        let decimals = self.decimals;
        format!("{tick:.decimals$}")
    }
}

/// 1, 2 or 5 times a power of ten, at least `raw`.
fn nice_step(raw: f64) -> f64 {
    let magnitude = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|step| *step >= raw * (1.0 - 1e-9))
        .unwrap_or(10.0 * magnitude)
}

fn decimals(step: f64) -> usize {
    (-(step.log10() + 1e-9).floor()).max(0.0) as usize
}

/// A number in three significant figures, for labels on bars: `131`, `0.0123`.
pub(crate) fn short(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return "0".to_owned();
    }
    let digits = (2.0 - x.abs().log10().floor()).clamp(0.0, 6.0) as usize;
    format!("{x:.digits$}")
}

/// Pixels above a panel's plot for its caption.
pub(crate) const CAPTION_SPACE: u32 = 26;

/// Writes `caption` centred over the plot whose pixels span `plot_x` (absolute), on `area`.
pub(crate) fn draw_caption(area: &Area<'_>, caption: &str, plot_x: Range<i32>) -> Drawn {
    if caption.is_empty() {
        return Ok(());
    }
    let width = (plot_x.end - plot_x.start).max(0) as u32;
    let center = (plot_x.start + plot_x.end) / 2 - area.get_base_pixel().0;
    area.draw(&Text::new(
        fit(caption, 14.0, width),
        (center, 6),
        bold(14.0).pos(Pos::new(HPos::Center, VPos::Top)),
    ))?;
    Ok(())
}

/// About one tick per `spacing` pixels of an axis `pixels` long, at least two and at most six.
pub(crate) fn tick_count(pixels: u32, spacing: u32) -> usize {
    (pixels / spacing).clamp(2, 6) as usize
}

/// One bar of a horizontal bar panel.
#[derive(Debug)]
pub(crate) struct Bar {
    pub label: String,
    pub color: RGBColor,
    /// Already in the panel's unit.
    pub value: Option<Estimate>,
}

/// A panel of horizontal bars, first bar on top, with the CI as whiskers and the mean written
/// at the end of each bar. Category labels go in a `label_width`-pixel area on the left (none
/// when 0).
///
/// With `log_when_spread`, values [`LOG_SPREAD`] times apart or more are drawn on a logarithmic
/// axis, as dots rather than bars (the length of a bar on such an axis means nothing), and the
/// axis says so.
pub(crate) fn horizontal_bars(
    area: &Area<'_>,
    caption: &str,
    bars: &[Bar],
    label_width: u32,
    unit: Unit,
    log_when_spread: bool,
) -> Drawn {
    let n = bars.len();
    let largest = bars.iter().filter_map(|b| b.value).map(upper).fold(0.0, f64::max);
    // Room on the right for the value written after the longest bar.
    let plot_width = area.dim_in_pixel().0.saturating_sub(label_width + 24);
    let scale = if log_when_spread && spread_wide(bars.iter().filter_map(|b| b.value)) {
        let smallest =
            bars.iter().filter_map(|b| b.value).map(|e| e.mean).filter(|m| *m > 0.0).fold(largest, f64::min);
        // The same room on the right, in decades.
        let decades = largest.log10() - smallest.log10().floor();
        Scale::log(smallest, 10f64.powf(largest.log10() + decades * 0.45))
    } else {
        Scale::fixed(largest * 1.45, tick_count(plot_width, 60))
    };
    let x_desc = if scale.log { format!("{} (log scale)", unit.symbol) } else { unit.symbol.to_owned() };
    let rows: Vec<f64> = (0..n).map(|i| i as f64).collect();
    let mut chart = ChartBuilder::on(area)
        .margin_top(CAPTION_SPACE)
        .margin_left(if label_width == 0 { 14 } else { 8 })
        .margin_right(22)
        .margin_bottom(4)
        .x_label_area_size(38)
        .y_label_area_size(label_width)
        .build_cartesian_2d(
            Ticked::new(scale.bottom..scale.top, scale.ticks.clone()),
            Ticked::new(-0.5..n as f64 - 0.5, rows),
        )?;
    let row_label = |y: &f64| {
        let i = n as f64 - 1.0 - y.round();
        match bars.get(i as usize) {
            Some(bar) if label_width > 0 && i >= 0.0 => fit(&bar.label, 12.0, label_width - 12),
            _ => String::new(),
        }
    };
    let tick_label = |x: &f64| scale.label(*x);
    chart
        .configure_mesh()
        .disable_y_mesh()
        .bold_line_style(GRID)
        .axis_style(AXIS)
        .label_style(font(12.0))
        .axis_desc_style(font(12.0).color(&MUTED))
        .x_desc(x_desc)
        .x_label_formatter(&tick_label)
        .y_label_formatter(&row_label)
        .draw()?;
    let plot = chart.plotting_area();
    draw_caption(area, caption, plot.get_pixel_range().0)?;
    let value_unit = if unit.symbol == "%" { "%".to_owned() } else { format!(" {}", unit.symbol) };
    for (i, bar) in bars.iter().enumerate() {
        let y = (n - 1 - i) as f64;
        let Some(e) = bar.value else {
            plot.draw(
                &(EmptyElement::at((scale.bottom, y))
                    + Text::new(
                        "no data",
                        (4, 0),
                        font(11.0).color(&MUTED).pos(Pos::new(HPos::Left, VPos::Center)),
                    )),
            )?;
            continue;
        };
        if !scale.log {
            plot.draw(&Rectangle::new([(0.0, y - 0.32), (e.mean.max(0.0), y + 0.32)], bar.color.filled()))?;
        }
        if let Some(ci) = whisker(e) {
            let style = INK.stroke_width(1);
            let (lo, hi) = (scale.at(e.mean - ci).max(scale.bottom), scale.at(e.mean + ci));
            plot.draw(&PathElement::new(vec![(lo, y), (hi, y)], style))?;
            for x in [lo, hi] {
                plot.draw(&PathElement::new(vec![(x, y - 0.14), (x, y + 0.14)], style))?;
            }
        }
        if scale.log {
            plot.draw(&Circle::new((scale.at(e.mean), y), 5, bar.color.filled()))?;
        }
        plot.draw(
            &(EmptyElement::at((scale.at(upper(e)), y))
                + Text::new(
                    format!("{}{value_unit}", short(e.mean)),
                    (5, 0),
                    font(11.0).pos(Pos::new(HPos::Left, VPos::Center)),
                )),
        )?;
    }
    Ok(())
}

/// One series of a grouped vertical bar panel: a value per group, already in the unit.
#[derive(Debug)]
pub(crate) struct BarSeries {
    pub color: RGBColor,
    pub values: Vec<Option<Estimate>>,
}

/// A panel of vertical bars: one group per entry of `groups` (labelled on the x axis), one bar
/// per series in each group, whiskers for the CI. Group labels are thinned so they never
/// overlap; values are written above bars wide enough to hold them.
pub(crate) fn vertical_bars(
    area: &Area<'_>,
    caption: &str,
    groups: &[String],
    series: &[BarSeries],
    scale: &Scale,
    unit: Unit,
    x_desc: &str,
) -> Drawn {
    let n = groups.len().max(1);
    let k = series.len().max(1);
    let y_label_width = 58;
    let plot_width = area.dim_in_pixel().0.saturating_sub(y_label_width + 20).max(1);
    let group_px = f64::from(plot_width) / n as f64;
    let widest = groups.iter().map(|g| text_width(g, 12.0)).max().unwrap_or(0);
    let stride = ((f64::from(widest) + 10.0) / group_px).ceil().max(1.0) as usize;
    let labelled: Vec<f64> = (0..n).step_by(stride).map(|i| i as f64).collect();
    let mut chart = ChartBuilder::on(area)
        .margin_top(if caption.is_empty() { 8 } else { CAPTION_SPACE })
        .margin_left(8)
        .margin_right(12)
        .margin_bottom(4)
        .x_label_area_size(if x_desc.is_empty() { 28 } else { 44 })
        .y_label_area_size(y_label_width)
        .build_cartesian_2d(
            Ticked::new(-0.5..n as f64 - 0.5, labelled),
            Ticked::new(0.0..scale.top, scale.ticks.clone()),
        )?;
    let group_label = |x: &f64| groups.get(x.round().max(0.0) as usize).cloned().unwrap_or_default();
    let tick_label = |y: &f64| format!("{}{}", scale.label(*y), unit.symbol);
    chart
        .configure_mesh()
        .disable_x_mesh()
        .bold_line_style(GRID)
        .axis_style(AXIS)
        .label_style(font(12.0))
        .axis_desc_style(font(12.0).color(&MUTED))
        .x_desc(x_desc)
        .x_label_formatter(&group_label)
        .y_label_formatter(&tick_label)
        .draw()?;
    let plot = chart.plotting_area();
    draw_caption(area, caption, plot.get_pixel_range().0)?;
    let bar = 0.8 / k as f64;
    let bar_px = group_px * bar;
    let value_px = 10.0;
    for (j, s) in series.iter().enumerate() {
        for (g, value) in s.values.iter().enumerate() {
            let Some(e) = *value else { continue };
            let x0 = g as f64 - 0.4 + j as f64 * bar;
            let mid = x0 + bar / 2.0;
            let gap = if bar_px >= 6.0 { bar * 0.08 } else { 0.0 };
            plot.draw(&Rectangle::new(
                [(x0 + gap, 0.0), (x0 + bar - gap, e.mean.clamp(0.0, scale.top))],
                s.color.filled(),
            ))?;
            if let Some(ci) = whisker(e) {
                let style = INK.stroke_width(1);
                let (lo, hi) = ((e.mean - ci).max(0.0), (e.mean + ci).min(scale.top));
                let cap = bar * 0.25;
                plot.draw(&PathElement::new(vec![(mid, lo), (mid, hi)], style))?;
                for y in [lo, hi] {
                    plot.draw(&PathElement::new(vec![(mid - cap, y), (mid + cap, y)], style))?;
                }
            }
            let text = format!("{}{}", short(e.mean), unit.symbol);
            if f64::from(text_width(&text, value_px)) + 2.0 <= bar_px {
                plot.draw(
                    &(EmptyElement::at((mid, upper(e).min(scale.top)))
                        + Text::new(text, (0, -3), font(value_px).pos(Pos::new(HPos::Center, VPos::Bottom)))),
                )?;
            }
        }
    }
    Ok(())
}

/// One line of a line panel: `(x, value in the unit)`, sorted by x.
#[derive(Debug)]
pub(crate) struct Line {
    pub color: RGBColor,
    pub points: Vec<(f64, Option<Estimate>)>,
}

/// A panel of lines with markers and CI whiskers against a numeric x axis. The x ticks are the
/// swept values themselves when there are few of them.
///
/// With `log_when_spread`, values [`LOG_SPREAD`] times apart or more are drawn on a logarithmic
/// y axis, and the axis says so.
pub(crate) fn lines(
    area: &Area<'_>,
    caption: &str,
    x_desc: &str,
    y_desc: &str,
    lines: &[Line],
    unit: Unit,
    log_when_spread: bool,
) -> Drawn {
    let mut xs: Vec<f64> = lines.iter().flat_map(|l| l.points.iter().map(|p| p.0)).collect();
    xs.sort_by(f64::total_cmp);
    xs.dedup();
    let (lo, hi) = match (xs.first(), xs.last()) {
        (Some(&lo), Some(&hi)) if hi > lo => (lo, hi),
        (Some(&x), _) => (x - 1.0, x + 1.0),
        _ => (0.0, 1.0),
    };
    let pad = (hi - lo) * 0.05;
    let x_range = (lo - pad)..(hi + pad);
    let (width, height) = area.dim_in_pixel();
    let plot_width = width.saturating_sub(90).max(1);
    // The swept values themselves, unless they are many or crowd each other.
    let crowded = xs.windows(2).any(|w| (w[1] - w[0]) / (hi - lo + 2.0 * pad) * f64::from(plot_width) < 40.0);
    let x_ticks = if xs.len() <= 8 && !crowded {
        xs.clone()
    } else {
        let step = nice_step((hi - lo) / tick_count(plot_width, 80) as f64);
        let first = (lo / step).ceil() as i64;
        let last = (hi / step).floor() as i64;
        (first..=last).map(|k| k as f64 * step).collect()
    };
    let largest =
        lines.iter().flat_map(|l| l.points.iter().filter_map(|p| p.1)).map(upper).fold(0.0, f64::max);
    let values = || lines.iter().flat_map(|l| l.points.iter().filter_map(|p| p.1));
    let scale = if log_when_spread && spread_wide(values()) {
        let smallest = values().map(|e| e.mean).filter(|m| *m > 0.0).fold(largest, f64::min);
        Scale::log(smallest, largest * 1.04)
    } else {
        Scale::from_zero(largest, tick_count(height.saturating_sub(100), 50))
    };
    let y_desc = match scale.log {
        true => format!("{y_desc} ({}, log scale)", unit.symbol),
        false => format!("{y_desc} ({})", unit.symbol),
    };
    let mut chart = ChartBuilder::on(area)
        .margin_top(if caption.is_empty() { 10 } else { CAPTION_SPACE })
        .margin_left(8)
        .margin_right(20)
        .margin_bottom(4)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(
            Ticked::new(x_range, x_ticks),
            Ticked::new(scale.bottom..scale.top, scale.ticks.clone()),
        )?;
    let x_label = |x: &f64| format_number(*x);
    let y_label = |y: &f64| scale.label(*y);
    chart
        .configure_mesh()
        .bold_line_style(GRID)
        .axis_style(AXIS)
        .label_style(font(12.0))
        .axis_desc_style(font(12.0).color(&MUTED))
        .x_desc(x_desc)
        .y_desc(y_desc)
        .x_label_formatter(&x_label)
        .y_label_formatter(&y_label)
        .draw()?;
    let plot = chart.plotting_area();
    draw_caption(area, caption, plot.get_pixel_range().0)?;
    let cap = (hi - lo + 2.0 * pad) * 0.008;
    for line in lines {
        let points: Vec<(f64, Estimate)> =
            line.points.iter().filter_map(|&(x, e)| e.map(|e| (x, e))).collect();
        let style = line.color.stroke_width(2);
        plot.draw(&PathElement::new(
            points.iter().map(|&(x, e)| (x, scale.at(e.mean))).collect::<Vec<_>>(),
            style,
        ))?;
        for &(x, e) in &points {
            if let Some(ci) = whisker(e) {
                let (lo, hi) =
                    (scale.at(e.mean - ci).max(scale.bottom), scale.at(e.mean + ci).min(scale.top));
                let thin = line.color.stroke_width(1);
                plot.draw(&PathElement::new(vec![(x, lo), (x, hi)], thin))?;
                for y in [lo, hi] {
                    plot.draw(&PathElement::new(vec![(x - cap, y), (x + cap, y)], thin))?;
                }
            }
            plot.draw(&Circle::new((x, scale.at(e.mean)), 3, line.color.filled()))?;
        }
    }
    Ok(())
}

/// A number as short as it reads: `100`, `0.5`, `1.25`.
pub(crate) fn format_number(x: f64) -> String {
    let rounded = (x * 1e9).round() / 1e9;
    format!("{rounded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_replaces_markup() {
        assert_eq!(
            escape(r#"<a href="x">Tom & 'Jerry'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn scale_ticks_are_round_and_reach_the_largest_value() {
        let scale = Scale::from_zero(0.437, 5);
        let labels: Vec<_> = scale.ticks.iter().map(|t| scale.label(*t)).collect();
        assert_eq!(labels, ["0.0", "0.1", "0.2", "0.3", "0.4", "0.5"]);
        assert!(scale.top >= 0.437);
        let scale = Scale::from_zero(131.0, 5);
        assert_eq!(scale.ticks, [0.0, 50.0, 100.0, 150.0]);
        assert_eq!(scale.decimals, 0);
        let empty = Scale::from_zero(f64::NAN, 5);
        assert!(empty.top >= 1.0 && empty.ticks[0] == 0.0, "{empty:?}");
        assert_eq!(Scale::from_zero(750.0, 3).ticks, [0.0, 500.0, 1000.0]);
    }

    #[test]
    fn fixed_scale_keeps_its_top() {
        let scale = Scale::fixed(100.0, 5);
        assert_eq!(scale.top, 100.0);
        assert_eq!(scale.ticks.last(), Some(&100.0));
    }

    #[test]
    fn long_text_is_cut_to_fit() {
        assert_eq!(fit("short", 10.0, 100), "short");
        let cut = fit("PowerOfTwoChoices", 10.0, 60);
        assert!(cut.ends_with('…') && text_width(&cut, 10.0) <= 60, "{cut}");
        assert!(cut.starts_with("Power"), "{cut}");
    }

    #[test]
    fn text_wraps_at_spaces() {
        let lines = wrap("one two three four five six", 10.0, 70);
        assert!(lines.len() > 1, "{lines:?}");
        assert_eq!(lines.join(" "), "one two three four five six");
        assert!(lines.iter().all(|l| text_width(l, 10.0) <= 70), "{lines:?}");
        assert!(wrap("", 10.0, 70).is_empty());
    }

    #[test]
    fn short_numbers_have_three_significant_figures() {
        assert_eq!(short(131.24), "131");
        assert_eq!(short(0.012345), "0.0123");
        assert_eq!(short(4.5), "4.50");
        assert_eq!(short(0.0), "0");
    }

    #[test]
    fn time_unit_follows_magnitude() {
        assert_eq!(time_unit(0.52).symbol, "ms");
        assert_eq!(time_unit(1.5).symbol, "s");
    }
}
