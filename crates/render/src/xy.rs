//! A plain x–y line chart, for plots that are not of a [`stacksim::Report`] (the calibration
//! reports of `stacksim fit` and `stacksim compare`).
//!
//! The same conventions as [`crate::plot`]: an SVG document without a prolog, a pure function
//! of its input, series coloured in order.
//!
//! ```
//! use stacksim_render::xy::{Series, line_chart};
//!
//! let svg = line_chart("QQ", "fitted [ms]", "observed [ms]", &[Series::new("app", vec![(1.0, 1.1), (2.0, 2.0)])]);
//! assert!(svg.starts_with("<svg") && svg.contains("QQ"));
//! ```

use std::error::Error;

use plotters::prelude::*;

use crate::plot::{color, escape};

/// One line of a chart.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// Legend name.
    pub name: String,
    /// Points, in x order.
    pub points: Vec<(f64, f64)>,
    /// Drawn thin (a fitted or simulated line against an observed one).
    pub dashed: bool,
}

impl Series {
    /// A solid line.
    pub fn new(name: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Series { name: name.into(), points, dashed: false }
    }

    /// A thin line.
    pub fn dashed(name: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Series { name: name.into(), points, dashed: true }
    }
}

/// An SVG line chart of `series` (non-finite points are left out).
pub fn line_chart(title: &str, x_label: &str, y_label: &str, series: &[Series]) -> String {
    let finite = |p: &&(f64, f64)| p.0.is_finite() && p.1.is_finite();
    let all: Vec<(f64, f64)> = series.iter().flat_map(|s| s.points.iter().filter(finite).copied()).collect();
    let (mut x0, mut x1, mut y0, mut y1) = all.iter().fold(
        (f64::INFINITY, f64::NEG_INFINITY, f64::INFINITY, f64::NEG_INFINITY),
        |(a, b, c, d), &(x, y)| (a.min(x), b.max(x), c.min(y), d.max(y)),
    );
    if all.is_empty() {
        (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
    }
    if x1 <= x0 {
        x1 = x0 + 1.0;
    }
    y0 = y0.min(0.0);
    if y1 <= y0 {
        y1 = y0 + 1.0;
    }
    let mut svg = String::new();
    let drawn = (|| -> Result<(), Box<dyn Error>> {
        let root = SVGBackend::with_string(&mut svg, (720, 360)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(escape(title), ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(36)
            .y_label_area_size(56)
            .build_cartesian_2d(x0..x1, y0..y1 * 1.05)?;
        chart
            .configure_mesh()
            .x_desc(escape(x_label))
            .y_desc(escape(y_label))
            .light_line_style(WHITE)
            .draw()?;
        for (i, s) in series.iter().enumerate() {
            let c = color(i);
            let points: Vec<(f64, f64)> = s.points.iter().filter(finite).copied().collect();
            let style = ShapeStyle::from(&c).stroke_width(if s.dashed { 1 } else { 2 });
            let drawn = chart.draw_series(std::iter::once(PathElement::new(points, style)))?;
            drawn.label(escape(&s.name)).legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], c));
        }
        chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw()?;
        root.present()?;
        Ok(())
    })();
    match drawn {
        Ok(()) => svg,
        Err(e) => format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"720\" height=\"40\"><text x=\"10\" y=\"24\">This plot could not be drawn: {}</text></svg>",
            escape(&e.to_string())
        ),
    }
}
