//! [`Chart`]: a run's loss and accuracy curves as a PNG, drawn by `plotters`.
//!
//! Two panels side by side. Left, the loss: every step's training loss
//! (light, smoothed over a tenth of an epoch), each epoch's mean training loss and the
//! validation loss. Right, the accuracy in percent: training and validation per epoch,
//! and the test accuracy, when recorded, as a dashed line. A dotted line marks the best
//! epoch. The text is set in DejaVu Sans, embedded in the crate (`assets/fonts/`, with its
//! licence), so drawing needs no font installed on the machine.
//!
//! ```no_run
//! use monograd_nn::train::{Chart, History};
//! # let history = History::default();
//! Chart::new(&history).title("mnist_cnn, seed 0").save("runs/mnist_cnn-seed0.png")?;
//! # Ok::<(), monograd_nn::train::PlotError>(())
//! ```

use std::fmt;
use std::path::{Path, PathBuf};
use std::string::{String, ToString};
use std::sync::OnceLock;
use std::vec::Vec;

use plotters::coord::combinators::IntoLogRange;
use plotters::coord::ranged1d::ValueFormatter;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::history::{History, LossText};

/// DejaVu Sans (Bitstream Vera licence with public-domain DejaVu changes; see
/// `assets/fonts/LICENSE-DejaVu.txt`).
static FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

/// The family every text of the chart uses: the embedded font is registered under it.
const FAMILY: &str = "sans-serif";

const BLUE_: RGBColor = RGBColor(31, 119, 180);
const ORANGE: RGBColor = RGBColor(255, 127, 14);
const GREEN_: RGBColor = RGBColor(44, 160, 44);
const GREY: RGBColor = RGBColor(120, 120, 120);

/// Why a chart could not be drawn or written.
#[derive(Debug)]
pub struct PlotError {
    /// The file.
    pub path: PathBuf,
    /// What went wrong, in words.
    pub problem: String,
}

impl fmt::Display for PlotError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: cannot draw the chart: {}", self.path.display(), self.problem)
    }
}

impl std::error::Error for PlotError {}

/// Registers the embedded font once per process.
fn register_font() -> Result<(), String> {
    static LOADED: OnceLock<bool> = OnceLock::new();
    if *LOADED.get_or_init(|| plotters::style::register_font(FAMILY, FontStyle::Normal, FONT).is_ok()) {
        Ok(())
    } else {
        Err(String::from("the embedded font does not load"))
    }
}

/// The loss and accuracy curves of a [`History`], to save as a PNG.
#[derive(Clone, Debug)]
pub struct Chart<'a> {
    history: &'a History,
    title: String,
    size: (u32, u32),
}

impl<'a> Chart<'a> {
    /// A chart of `history`, 1200 × 480 pixels, titled "training".
    pub fn new(history: &'a History) -> Self {
        Self { history, title: String::from("training"), size: (1200, 480) }
    }

    /// The title above both panels.
    pub fn title(self, title: impl Into<String>) -> Self {
        Self { title: title.into(), ..self }
    }

    /// The image size in pixels (at least 400 × 240).
    pub fn size(self, width: u32, height: u32) -> Self {
        Self { size: (width.max(400), height.max(240)), ..self }
    }

    /// Draws the chart and writes it to `path` as a PNG (creating its directory).
    ///
    /// # Errors
    /// A [`PlotError`] naming the file if the directory cannot be created, the font does
    /// not load, or the image cannot be written.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), PlotError> {
        let path = path.as_ref();
        let err = |problem: String| PlotError { path: path.into(), problem };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| err(e.to_string()))?;
        }
        register_font().map_err(err)?;
        self.draw(path).map_err(err)
    }

    fn draw(&self, path: &Path) -> Result<(), String> {
        let h = self.history;
        let root = BitMapBackend::new(path, self.size).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let mut subtitle = String::new();
        if let Some(best) = h.best().filter(|b| b.val.is_some()) {
            let val = best.val.expect("filtered");
            subtitle += &std::format!("best epoch {}: validation loss {}", best.epoch, LossText(val.loss));
            if let Some(a) = val.accuracy {
                subtitle += &std::format!(", accuracy {:.2}%", 100.0 * a);
            }
        }
        if let Some(a) = h.test.and_then(|t| t.accuracy) {
            subtitle += &std::format!("   test accuracy {:.2}%", 100.0 * a);
        }
        subtitle += &std::format!("   {} epochs in {:.1} s", h.epochs.len(), h.seconds());
        let (top, body) = root.split_vertically(64);
        let w = self.size.0 as i32;
        let title_style = TextStyle::from((FAMILY, 24).into_font()).pos(Pos::new(HPos::Center, VPos::Top));
        top.draw_text(&self.title, &title_style, (w / 2, 8)).map_err(|e| e.to_string())?;
        let sub_style = TextStyle::from((FAMILY, 16).into_font()).color(&GREY).pos(Pos::new(HPos::Center, VPos::Top));
        top.draw_text(subtitle.trim_start(), &sub_style, (w / 2, 38)).map_err(|e| e.to_string())?;
        let (left, right) = body.split_horizontally(self.size.0 / 2);
        self.loss_panel(&left)?;
        self.accuracy_panel(&right)?;
        root.present().map_err(|e| e.to_string())
    }

    /// How many x labels: one per epoch up to 20, so that they fall on whole epochs.
    fn x_labels(&self) -> usize {
        let n = self.history.epochs.len().max(1);
        if n <= 20 {
            n + 1
        } else {
            11
        }
    }

    /// Circles on the epoch points, unless there are so many that they clutter.
    fn point_size(&self) -> u32 {
        if self.history.epochs.len() <= 30 {
            4
        } else {
            0
        }
    }

    /// The x range: 0 to the last epoch (at least 1).
    fn x_max(&self) -> f64 {
        self.history.epochs.len().max(1) as f64
    }

    fn loss_panel<DB: DrawingBackend>(&self, area: &DrawingArea<DB, plotters::coord::Shift>) -> Result<(), String> {
        let h = self.history;
        let per_epoch: Vec<(f64, f64)> = h.epochs.iter().map(|r| (r.epoch as f64, r.train.loss)).collect();
        let val: Vec<(f64, f64)> = h.epochs.iter().filter_map(|r| Some((r.epoch as f64, r.val?.loss))).collect();
        let smooth = smoothed(&h.steps, h.steps.len() / h.epochs.len().max(1) / 10);
        let all = per_epoch.iter().chain(&val).chain(&smooth).map(|p| p.1).filter(|v| v.is_finite() && *v > 0.0);
        let (min, max) = all.fold((f64::INFINITY, 0.0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
        let builder = |caption| {
            let mut b = ChartBuilder::on(area);
            b.caption(caption, (FAMILY, 20)).margin(14).x_label_area_size(44).y_label_area_size(72);
            b
        };
        let series = Series { smooth: &smooth, per_epoch: &per_epoch, val: &val };
        // Losses that fall by more than two orders of magnitude (regression) read better on
        // a log scale; classification losses stay within one and read better linearly.
        if min.is_finite() && max / min > 100.0 {
            let (lo, hi) = (min / 1.5, max * 1.5);
            let mut chart = builder("loss (log scale)")
                .build_cartesian_2d(0f64..self.x_max(), (lo..hi).log_scale())
                .map_err(|e| e.to_string())?;
            self.mesh(&mut chart, "loss")?;
            self.loss_series(&mut chart, series, lo, hi)
        } else {
            let (lo, hi) = (0.0, if max > 0.0 { max * 1.08 } else { 1.0 });
            let mut chart =
                builder("loss").build_cartesian_2d(0f64..self.x_max(), lo..hi).map_err(|e| e.to_string())?;
            self.mesh(&mut chart, "loss")?;
            self.loss_series(&mut chart, series, lo, hi)
        }
    }

    /// Axes, labels and grid.
    fn mesh<DB: DrawingBackend, Y: Ranged<ValueType = f64> + ValueFormatter<f64>>(
        &self,
        chart: &mut ChartContext<'_, DB, Cartesian2d<RangedCoordf64, Y>>,
        y_desc: &str,
    ) -> Result<(), String> {
        chart
            .configure_mesh()
            .x_desc("epoch")
            .y_desc(y_desc)
            .x_labels(self.x_labels())
            .x_label_formatter(&|x| std::format!("{x:.0}"))
            .y_label_formatter(&|y| axis_text(*y))
            .label_style((FAMILY, 14))
            .axis_desc_style((FAMILY, 15))
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(|e| e.to_string())
    }

    fn loss_series<'c, DB: DrawingBackend + 'c, Y: Ranged<ValueType = f64>>(
        &self,
        chart: &mut ChartContext<'c, DB, Cartesian2d<RangedCoordf64, Y>>,
        Series { smooth, per_epoch, val }: Series<'_>,
        lo: f64,
        hi: f64,
    ) -> Result<(), String> {
        self.best_marker(chart, lo, hi)?;
        let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
        chart
            .draw_series(LineSeries::new(smooth.iter().copied(), BLUE_.mix(0.35).stroke_width(1)))
            .map_err(e)?
            .label("train, per step (smoothed)")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 24, y)], BLUE_.mix(0.35).stroke_width(2)));
        chart
            .draw_series(
                LineSeries::new(per_epoch.iter().copied(), BLUE_.stroke_width(2)).point_size(self.point_size()),
            )
            .map_err(e)?
            .label("train, epoch mean")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 24, y)], BLUE_.stroke_width(2)));
        if !val.is_empty() {
            chart
                .draw_series(LineSeries::new(val.iter().copied(), ORANGE.stroke_width(2)).point_size(self.point_size()))
                .map_err(e)?
                .label("validation")
                .legend(|(x, y)| PathElement::new([(x, y), (x + 24, y)], ORANGE.stroke_width(2)));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .label_font((FAMILY, 14))
            .background_style(WHITE.mix(0.85))
            .border_style(GREY)
            .draw()
            .map_err(|e| e.to_string())
    }

    fn accuracy_panel<DB: DrawingBackend>(&self, area: &DrawingArea<DB, plotters::coord::Shift>) -> Result<(), String> {
        let h = self.history;
        let pct = |a: Option<f64>| a.map(|a| 100.0 * a);
        let train: Vec<(f64, f64)> =
            h.epochs.iter().filter_map(|r| Some((r.epoch as f64, pct(r.train.accuracy)?))).collect();
        let val: Vec<(f64, f64)> =
            h.epochs.iter().filter_map(|r| Some((r.epoch as f64, pct(r.val.and_then(|v| v.accuracy))?))).collect();
        let test = pct(h.test.and_then(|t| t.accuracy));
        let lo = train.iter().chain(&val).map(|p| p.1).chain(test).fold(100.0f64, f64::min);
        let lo = (lo - 0.1 * (100.0 - lo) - 0.5).clamp(0.0, 99.0).floor();
        let mut chart = ChartBuilder::on(area)
            .caption("accuracy", (FAMILY, 20))
            .margin(14)
            .x_label_area_size(44)
            .y_label_area_size(64)
            .build_cartesian_2d(0f64..self.x_max(), lo..100.0)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc("epoch")
            .y_desc("accuracy (%)")
            .x_labels(self.x_labels())
            .x_label_formatter(&|x| std::format!("{x:.0}"))
            .y_label_formatter(&|y| std::format!("{y:.0}"))
            .label_style((FAMILY, 14))
            .axis_desc_style((FAMILY, 15))
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(|e| e.to_string())?;
        if train.is_empty() && val.is_empty() {
            return Ok(());
        }
        self.best_marker(&mut chart, lo, 100.0)?;
        let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
        chart
            .draw_series(LineSeries::new(train.iter().copied(), BLUE_.stroke_width(2)).point_size(self.point_size()))
            .map_err(e)?
            .label("train (in training mode)")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 24, y)], BLUE_.stroke_width(2)));
        if !val.is_empty() {
            chart
                .draw_series(LineSeries::new(val.iter().copied(), ORANGE.stroke_width(2)).point_size(self.point_size()))
                .map_err(e)?
                .label("validation")
                .legend(|(x, y)| PathElement::new([(x, y), (x + 24, y)], ORANGE.stroke_width(2)));
        }
        if let Some(t) = test {
            chart
                .draw_series(DashedLineSeries::new([(0.0, t), (self.x_max(), t)], 8, 6, GREEN_.stroke_width(2)))
                .map_err(e)?
                .label(std::format!("test: {t:.2}%"))
                .legend(|(x, y)| PathElement::new([(x, y), (x + 24, y)], GREEN_.stroke_width(2)));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .label_font((FAMILY, 14))
            .background_style(WHITE.mix(0.85))
            .border_style(GREY)
            .draw()
            .map_err(|e| e.to_string())
    }

    /// A dotted vertical line at the best epoch.
    fn best_marker<DB: DrawingBackend, Y>(
        &self,
        chart: &mut ChartContext<'_, DB, Cartesian2d<RangedCoordf64, Y>>,
        lo: f64,
        hi: f64,
    ) -> Result<(), String>
    where
        Y: Ranged<ValueType = f64>,
    {
        if let Some(best) = self.history.best().filter(|b| b.val.is_some()) {
            let x = best.epoch as f64;
            chart
                .draw_series(DashedLineSeries::new([(x, lo), (x, hi)], 3, 5, GREY.stroke_width(1)))
                .map_err(|e| e.to_string())?
                .label(std::format!("best epoch ({})", best.epoch))
                .legend(|(x, y)| PathElement::new([(x, y), (x + 24, y)], GREY.stroke_width(1)));
        }
        Ok(())
    }
}

/// An axis label: `0.25`, `2`, or `1e-3` below 0.01.
fn axis_text(v: f64) -> String {
    if v != 0.0 && v.abs() < 0.01 {
        return std::format!("{v:.0e}");
    }
    let s = std::format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// The loss curves of a chart.
#[derive(Clone, Copy)]
struct Series<'a> {
    smooth: &'a [(f64, f64)],
    per_epoch: &'a [(f64, f64)],
    val: &'a [(f64, f64)],
}

/// `(x, loss)` points averaged over windows of `window` steps (at least 1), one point
/// per window at its last step.
fn smoothed(steps: &[(f64, f32)], window: usize) -> Vec<(f64, f64)> {
    let window = window.max(1);
    steps
        .chunks(window)
        .map(|c| (c[c.len() - 1].0, c.iter().map(|s| f64::from(s.1)).sum::<f64>() / c.len() as f64))
        .filter(|p| p.1.is_finite() && p.1 > 0.0)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::{EpochReport, Metrics};

    #[test]
    fn smoothing_averages_windows() {
        let steps = [(0.25, 4.0f32), (0.5, 2.0), (0.75, 1.0), (1.0, 1.0)];
        assert_eq!(smoothed(&steps, 2), [(0.5, 3.0), (1.0, 1.0)]);
        assert_eq!(smoothed(&steps, 0).len(), 4);
        let labels: Vec<String> = [0.0, 0.25, 2.0, 0.1, 0.001, 2.4e-5].iter().map(|&v| axis_text(v)).collect();
        assert_eq!(labels, ["0", "0.25", "2", "0.1", "1e-3", "2e-5"]);
    }

    #[test]
    fn a_chart_is_written_as_a_png() {
        let m = |loss, acc| Metrics { loss, accuracy: Some(acc), samples: 100 };
        let mut h = History::default();
        for e in 1..=3 {
            let f = e as f64;
            h.epochs.push(EpochReport {
                epoch: e,
                epochs: 3,
                train: m(1.0 / f, 0.8 + 0.05 * f),
                val: Some(m(1.1 / f, 0.78 + 0.05 * f)),
                lr: 1e-3,
                steps: 10 * e,
                train_seconds: 0.1,
                val_seconds: 0.01,
                best: true,
            });
            for s in 1..=10 {
                h.steps.push((f - 1.0 + s as f64 / 10.0, (1.2 / (f - 1.0 + s as f64 / 10.0)) as f32));
            }
        }
        h.best = Some(2);
        h.test = Some(m(0.4, 0.93));
        let dir = std::env::temp_dir().join(std::format!("monograd-chart-{}", std::process::id()));
        let path = dir.join("sub").join("chart.png");
        Chart::new(&h).title("test chart").save(&path).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        std::fs::remove_dir_all(&dir).unwrap();
        // An empty history still draws (axes only).
        let empty = dir.join("empty.png");
        Chart::new(&History::default()).save(&empty).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        let e = Chart::new(&h).save("/proc/no/such/dir/chart.png").unwrap_err();
        assert!(e.to_string().starts_with("/proc/no/such/dir/chart.png: cannot draw the chart: "), "{e}");
    }
}
