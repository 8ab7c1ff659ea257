//! One SVG per suite: for each unit, a horizontal bar chart of the figures' medians with min-max
//! whiskers, one bar per (name, variant, backend), charts stacked top to bottom.
//!
//! The value axis is logarithmic when the values of a chart span more than 100x (and are all
//! positive), linear from zero otherwise. Bars are coloured by backend; labels longer than
//! [`LABEL_CHARS`] characters are cut.

use std::path::Path;

use anyhow::Context;
use plotters::coord::Shift;
use plotters::coord::ranged1d::ValueFormatter;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use crate::record::Figure;
use crate::report::Results;
use crate::report::markdown::num;

/// Longest bar label, in characters.
const LABEL_CHARS: usize = 40;
/// Width of the SVG, pixels.
const WIDTH: u32 = 960;
/// Height of one bar, pixels.
const BAR_HEIGHT: u32 = 28;
/// Height of a chart besides its bars (title, value axis and its description), pixels.
const CHART_FRAME: u32 = 100;
/// Font size of labels.
const LABEL_FONT: u32 = 14;

/// The file name of a suite's plot: `{suite}.svg`, with any character other than ASCII
/// letters, digits, `-` and `_` replaced by `_`.
pub(crate) fn file_name(suite: &str) -> String {
    let stem: String = suite
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{stem}.svg")
}

/// Writes `{suite}.svg` into `dir` for every suite with figures; returns those suites.
///
/// # Errors
/// A plot cannot be drawn or written.
pub(crate) fn write_all(results: &Results, dir: &Path) -> anyhow::Result<Vec<String>> {
    let mut plotted = Vec::new();
    for suite in results.suites() {
        if suite.figures.is_empty() {
            continue;
        }
        let path = dir.join(file_name(suite.name));
        write_suite(&path, suite.name, &suite.figures)
            .with_context(|| format!("cannot draw the plot {}", path.display()))?;
        plotted.push(suite.name.to_owned());
    }
    Ok(plotted)
}

/// A label cut to [`LABEL_CHARS`] characters (the cut marked with `...`).
fn truncate(label: &str) -> String {
    truncate_to(label, LABEL_CHARS)
}

/// `text` cut to `max` characters (the cut marked with `...`).
fn truncate_to(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        let mut cut: String = text.chars().take(max.saturating_sub(3)).collect();
        cut.push_str("...");
        cut
    }
}

/// The bar label of a figure: `name / variant / backend` (the variant left out when every bar
/// of the chart shares it: the title says it). A long label loses the end of its name first,
/// so that bars of different variants and backends stay apart.
fn label(f: &Figure, with_variant: bool) -> String {
    let mut tail = Vec::new();
    if with_variant && !f.variant.is_empty() {
        tail.push(f.variant.as_str());
    }
    if let Some(b) = &f.backend {
        tail.push(b);
    }
    if tail.is_empty() {
        return truncate(&f.name);
    }
    let tail = tail.join(" / ");
    let full = format!("{} / {tail}", f.name);
    let room = LABEL_CHARS.saturating_sub(tail.chars().count() + 3);
    if full.chars().count() <= LABEL_CHARS || room < 12 {
        return truncate(&full);
    }
    format!("{} / {tail}", truncate_to(&f.name, room))
}

/// The variant every figure of a chart shares, if they share one.
fn shared_variant<'a>(group: &[&'a Figure]) -> Option<&'a str> {
    let first = group.first()?.variant.as_str();
    (!first.is_empty() && group.iter().all(|f| f.variant == first)).then_some(first)
}

/// The bar colour of a backend.
fn colour(backend: Option<&str>) -> RGBColor {
    match backend {
        Some("fjall") => RGBColor(31, 119, 180),
        Some("redb") => RGBColor(214, 39, 40),
        Some(_) => RGBColor(148, 103, 189),
        None => RGBColor(44, 160, 44),
    }
}

/// The figures of one suite grouped by unit, units in order of first appearance.
fn by_unit<'a>(figures: &[&'a Figure]) -> Vec<(&'a str, Vec<&'a Figure>)> {
    let mut groups: Vec<(&str, Vec<&Figure>)> = Vec::new();
    for f in figures {
        match groups.iter_mut().find(|(u, _)| *u == f.unit) {
            Some((_, g)) => g.push(f),
            None => groups.push((&f.unit, vec![f])),
        }
    }
    groups
}

fn chart_height(bars: usize) -> u32 {
    CHART_FRAME + BAR_HEIGHT * u32::try_from(bars).unwrap_or(u32::MAX / 2 / BAR_HEIGHT)
}

fn write_suite(path: &Path, suite: &str, figures: &[&Figure]) -> anyhow::Result<()> {
    let groups = by_unit(figures);
    let heights: Vec<u32> = groups.iter().map(|(_, g)| chart_height(g.len())).collect();
    let total: u32 = heights.iter().sum();
    let root = SVGBackend::new(path, (WIDTH, total)).into_drawing_area();
    root.fill(&WHITE).map_err(plot_error)?;
    let mut breaks = Vec::new();
    let mut y = 0;
    for h in &heights[..heights.len() - 1] {
        y += h;
        breaks.push(i32::try_from(y).unwrap_or(i32::MAX));
    }
    let areas = root.split_by_breakpoints(Vec::<i32>::new(), breaks);
    for (area, (unit, group)) in areas.iter().zip(&groups) {
        chart(area, suite, unit, group)?;
    }
    root.present().map_err(plot_error)?;
    Ok(())
}

/// A plotters error as an anyhow error (its error types are not `Send + Sync` in general).
fn plot_error(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

/// The value range and scale of one chart.
struct Axis {
    /// Where bars start.
    from: f64,
    /// End of the axis (room for the value text right of the whiskers).
    to: f64,
    log: bool,
}

fn axis(group: &[&Figure]) -> Axis {
    let values: Vec<f64> = group
        .iter()
        .flat_map(|f| [f.median, f.min, f.max])
        .filter(|v| v.is_finite())
        .collect();
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if values.is_empty() {
        return Axis {
            from: 0.0,
            to: 1.0,
            log: false,
        };
    }
    if lo > 0.0 && hi / lo > 100.0 {
        Axis {
            from: 10f64.powf(lo.log10().floor()),
            to: 10f64.powf((hi * 3.0).log10().ceil()),
            log: true,
        }
    } else {
        let from = lo.min(0.0);
        let span = hi.max(0.0) - from;
        Axis {
            from,
            to: if span > 0.0 {
                hi.max(0.0) + span * 0.2
            } else {
                1.0
            },
            log: false,
        }
    }
}

fn chart(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    suite: &str,
    unit: &str,
    group: &[&Figure],
) -> anyhow::Result<()> {
    let shared = shared_variant(group);
    let labels: Vec<String> = group.iter().map(|f| label(f, shared.is_none())).collect();
    let longest = labels.iter().map(String::len).max().unwrap_or(0);
    // plotters' estimate of a character's width without a font: 0.7 em of size / 1.24^2.
    let char_width = f64::from(LABEL_FONT) / 1.24 / 1.24 * 0.7;
    let label_area = (longest as f64 * char_width).ceil() as u32 + 30;
    let axis = axis(group);
    let mut builder = ChartBuilder::on(area);
    builder
        .caption(
            match shared {
                Some(variant) => format!("{suite}: {unit} ({variant})"),
                None => format!("{suite}: {unit}"),
            },
            ("sans-serif", 20),
        )
        .margin(10)
        .margin_right(60)
        .x_label_area_size(45)
        .y_label_area_size(label_area);
    let better = if group.iter().all(|f| f.lower_is_better) {
        "; lower is better"
    } else if group.iter().all(|f| !f.lower_is_better) {
        "; higher is better"
    } else {
        ""
    };
    let x_desc = format!(
        "{unit} (bar: median, whisker: min to max{}{better})",
        if axis.log { ", log scale" } else { "" }
    );
    let bars = Bars {
        group,
        labels: &labels,
        from: axis.from,
        x_desc: &x_desc,
    };
    // Rows are centred on the integers 0..n, the first figure at the top.
    let rows = -0.5..(group.len() as f64 - 0.5);
    if axis.log {
        let chart = builder
            .build_cartesian_2d((axis.from..axis.to).log_scale(), rows)
            .map_err(plot_error)?;
        bars.draw(chart)
    } else {
        let chart = builder
            .build_cartesian_2d(axis.from..axis.to, rows)
            .map_err(plot_error)?;
        bars.draw(chart)
    }
}

/// What one chart shows.
struct Bars<'a> {
    group: &'a [&'a Figure],
    labels: &'a [String],
    from: f64,
    x_desc: &'a str,
}

/// Half the height of a bar, in rows.
const HALF_BAR: f64 = 0.35;

impl Bars<'_> {
    /// The row (y value) of figure `i`: the first at the top.
    fn row(&self, i: usize) -> f64 {
        (self.group.len() - 1 - i) as f64
    }

    /// The label of the row at `y` (empty between rows).
    fn row_label(&self, y: f64) -> String {
        let rounded = y.round();
        if (y - rounded).abs() > 1e-6 || rounded < 0.0 {
            return String::new();
        }
        let row = rounded as usize;
        self.group
            .len()
            .checked_sub(row + 1)
            .and_then(|i| self.labels.get(i))
            .cloned()
            .unwrap_or_default()
    }

    fn draw<X>(
        &self,
        mut chart: ChartContext<'_, SVGBackend<'_>, Cartesian2d<X, RangedCoordf64>>,
    ) -> anyhow::Result<()>
    where
        X: Ranged<ValueType = f64> + ValueFormatter<f64>,
    {
        let y_format = |y: &f64| self.row_label(*y);
        let x_format = |v: &f64| num(*v);
        // With as many labels as rows, the key points of -0.5..n-0.5 are the integers.
        let mut mesh = chart.configure_mesh();
        // The rotated axis description only where the bars leave it room.
        if self.group.len() * BAR_HEIGHT as usize >= 190 {
            mesh.y_desc("name / variant / backend");
        }
        mesh.disable_y_mesh()
            .y_labels(self.group.len())
            .y_label_formatter(&y_format)
            .x_label_formatter(&x_format)
            .x_desc(self.x_desc)
            .label_style(("sans-serif", LABEL_FONT))
            .axis_desc_style(("sans-serif", LABEL_FONT + 1))
            .draw()
            .map_err(plot_error)?;
        let from = self.from;
        let shown: Vec<(f64, &Figure)> = self
            .group
            .iter()
            .enumerate()
            .filter(|(_, f)| f.median.is_finite())
            .map(|(i, f)| (self.row(i), *f))
            .collect();
        chart
            .draw_series(shown.iter().map(|&(y, f)| {
                Rectangle::new(
                    [(from, y - HALF_BAR), (f.median.max(from), y + HALF_BAR)],
                    colour(f.backend.as_deref()).mix(0.8).filled(),
                )
            }))
            .map_err(plot_error)?;
        let whiskers: Vec<(f64, f64, f64)> = self
            .group
            .iter()
            .enumerate()
            .filter(|(_, f)| f.min.is_finite() && f.max.is_finite())
            .map(|(i, f)| (self.row(i), f.min.max(from), f.max.max(from)))
            .collect();
        chart
            .draw_series(whiskers.iter().map(|&(y, lo, hi)| {
                PathElement::new(vec![(lo, y), (hi, y)], BLACK.stroke_width(1))
            }))
            .map_err(plot_error)?;
        let cap = |x: f64, y: f64| {
            EmptyElement::at((x, y))
                + PathElement::new(vec![(0, -6), (0, 6)], BLACK.stroke_width(1))
        };
        chart
            .draw_series(whiskers.iter().map(|&(y, lo, _)| cap(lo, y)))
            .map_err(plot_error)?;
        chart
            .draw_series(whiskers.iter().map(|&(y, _, hi)| cap(hi, y)))
            .map_err(plot_error)?;
        // The median as text right of the whisker (or of the bar, without one).
        let font = i32::try_from(LABEL_FONT).unwrap_or(12);
        chart
            .draw_series(shown.iter().map(|&(y, f)| {
                let right = if f.max.is_finite() {
                    f.max.max(f.median)
                } else {
                    f.median
                };
                EmptyElement::at((right.max(from), y))
                    + Text::new(num(f.median), (8, -font / 2), ("sans-serif", LABEL_FONT))
            }))
            .map_err(plot_error)?;
        Ok(())
    }
}
