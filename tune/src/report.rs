//! A study's results: a table (`Display` on [`StudyResult`]), CSV ([`StudyResult::to_csv`])
//! and PNG charts ([`StudyResult::chart_history`], [`StudyResult::chart_params`]), drawn
//! with `plotters` in the same embedded DejaVu Sans as the training charts, so nothing
//! needs installing.

use std::fmt;
use std::path::Path;
use std::sync::OnceLock;

use plotters::prelude::*;

use crate::space::SearchSpace;
use crate::study::{StudyResult, TrialState};
use crate::TuneError;

/// DejaVu Sans (Bitstream Vera licence with public-domain DejaVu changes), the font file
/// `monograd-nn` ships for its training charts, with its licence beside it.
static FONT: &[u8] = include_bytes!("../../nn/assets/fonts/DejaVuSans.ttf");
const FAMILY: &str = "sans-serif";

fn register_font() -> Result<(), String> {
    static LOADED: OnceLock<bool> = OnceLock::new();
    if *LOADED.get_or_init(|| plotters::style::register_font(FAMILY, FontStyle::Normal, FONT).is_ok()) {
        Ok(())
    } else {
        Err("the embedded font does not load".into())
    }
}

fn state_name(s: TrialState) -> &'static str {
    match s {
        TrialState::Complete => "complete",
        TrialState::Pruned => "pruned",
        TrialState::Failed => "failed",
    }
}

impl<C: SearchSpace> fmt::Display for StudyResult<C> {
    /// One row per trial: number, state, value, each parameter, seconds; the best marked.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let best = self.best().map(|b| b.number);
        let mut head = vec!["#".to_string(), "state".into(), "value".into()];
        head.extend(self.space.params().iter().map(|p| p.name.clone()));
        head.push("seconds".into());
        let rows: Vec<Vec<String>> = self
            .trials
            .iter()
            .map(|t| {
                let mark = if Some(t.number) == best { "*" } else { "" };
                let mut row = vec![format!("{}{mark}", t.number), state_name(t.state).into()];
                row.push(t.value.map_or("-".into(), |v| format!("{v:.6}")));
                row.extend(self.space.params().iter().zip(&t.values).map(|(p, v)| p.label(*v)));
                row.push(format!("{:.2}", t.seconds));
                row
            })
            .collect();
        let widths: Vec<usize> = (0..head.len())
            .map(|c| rows.iter().map(|r| r[c].len()).chain([head[c].len()]).max().unwrap_or(0))
            .collect();
        writeln!(f, "{} trials, {}, {:?}", self.trials.len(), self.sampler, self.direction)?;
        for row in std::iter::once(&head).chain(&rows) {
            let cells: Vec<String> = row.iter().zip(&widths).map(|(c, w)| format!("{c:>w$}")).collect();
            writeln!(f, "{}", cells.join("  "))?;
        }
        match self.best() {
            Some(b) => write!(f, "best: trial {} with {:.6}", b.number, b.value.unwrap_or(f64::NAN)),
            None => write!(f, "no trial completed"),
        }
    }
}

impl<C: SearchSpace> StudyResult<C> {
    /// Writes one row per trial: `number, state, value, seed, seconds`, then each
    /// parameter (empty where absent; a choice as its label).
    ///
    /// ```
    /// use monograd_tune::prelude::*;
    /// search_space! { struct Cfg { x: f64 = uniform(0.0, 1.0), k: &'static str = choice(["a", "b"]) } }
    /// let result = Study::<Cfg>::new(Random::new(1)).trials(3).run(|c: &Cfg, _: &mut Trial| Ok(c.x))?;
    /// let path = std::env::temp_dir().join("monograd-tune-doc.csv");
    /// result.to_csv(&path)?;
    /// let text = std::fs::read_to_string(&path)?;
    /// assert!(text.starts_with("number,state,value,seed,seconds,x,k\n0,complete,"));
    /// assert_eq!(text.lines().count(), 4);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn to_csv(&self, path: impl AsRef<Path>) -> Result<(), TuneError> {
        let path = path.as_ref();
        let err = |e: csv::Error| TuneError::Report { path: path.to_path_buf(), problem: e.to_string() };
        let mut w = csv::Writer::from_path(path).map_err(err)?;
        let mut head = vec!["number".to_string(), "state".into(), "value".into(), "seed".into(), "seconds".into()];
        head.extend(self.space.params().iter().map(|p| p.name.clone()));
        w.write_record(&head).map_err(err)?;
        for t in &self.trials {
            let mut row = vec![
                t.number.to_string(),
                state_name(t.state).into(),
                t.value.map_or(String::new(), |v| v.to_string()),
                t.seed.to_string(),
                t.seconds.to_string(),
            ];
            for (p, v) in self.space.params().iter().zip(&t.values) {
                row.push(match v {
                    crate::space::Value::Absent => String::new(),
                    crate::space::Value::Float(x) => x.to_string(),
                    _ => p.label(*v),
                });
            }
            w.write_record(&row).map_err(err)?;
        }
        w.flush().map_err(|e| TuneError::Report { path: path.to_path_buf(), problem: e.to_string() })
    }

    /// A PNG of every complete trial's value against its number, and the best so far.
    ///
    /// ```no_run
    /// use monograd_tune::prelude::*;
    /// search_space! { struct Cfg { x: f64 = uniform(-5.0, 10.0), y: f64 = uniform(0.0, 15.0) } }
    /// let result = Study::<Cfg>::new(GpSampler::new(0)).trials(30).run(|c: &Cfg, _: &mut Trial| Ok(branin(c.x, c.y)))?;
    /// result.chart_history("runs/branin-history.png", "Branin, GP-EI")?;
    /// result.chart_params("runs/branin-params.png", "Branin, GP-EI")?;
    /// # Ok::<(), TuneError>(())
    /// ```
    pub fn chart_history(&self, path: impl AsRef<Path>, title: &str) -> Result<(), TuneError> {
        let path = path.as_ref();
        let err = |e: String| TuneError::Report { path: path.to_path_buf(), problem: format!("cannot draw: {e}") };
        register_font().map_err(err)?;
        let points: Vec<(f64, f64)> =
            self.trials.iter().filter_map(|t| t.value.map(|v| (t.number as f64, v))).collect();
        let best: Vec<(f64, f64)> = self
            .best_so_far()
            .into_iter()
            .enumerate()
            .filter_map(|(i, b)| b.map(|b| (self.trials[i].number as f64, b)))
            .collect();
        let (lo, hi) = range(points.iter().map(|p| p.1));
        let n = self.trials.iter().map(|t| t.number + 1).max().unwrap_or(1) as f64;
        let root = BitMapBackend::new(path, (900, 520)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, (FAMILY, 22))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(-0.5..n - 0.5, lo..hi)
            .map_err(|e| err(e.to_string()))?;
        chart
            .configure_mesh()
            .x_desc("trial")
            .y_desc("objective")
            .x_label_formatter(&|x| format!("{x:.0}"))
            .label_style((FAMILY, 14))
            .draw()
            .map_err(|e| err(e.to_string()))?;
        chart
            .draw_series(points.iter().map(|&p| Circle::new(p, 3, RGBColor(31, 119, 180).filled())))
            .map_err(|e| err(e.to_string()))?
            .label("trial")
            .legend(|(x, y)| Circle::new((x + 10, y), 3, RGBColor(31, 119, 180).filled()));
        chart
            .draw_series(LineSeries::new(best, RGBColor(255, 127, 14).stroke_width(2)))
            .map_err(|e| err(e.to_string()))?
            .label("best so far")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RGBColor(255, 127, 14).stroke_width(2)));
        chart
            .configure_series_labels()
            .label_font((FAMILY, 14))
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(|e| err(e.to_string()))?;
        root.present().map_err(|e| err(e.to_string()))
    }

    /// A PNG with one panel per parameter: each complete trial's value of it (unit
    /// coordinate for numbers, so log scales look even; index for choices) against the
    /// objective.
    pub fn chart_params(&self, path: impl AsRef<Path>, title: &str) -> Result<(), TuneError> {
        let path = path.as_ref();
        let err = |e: String| TuneError::Report { path: path.to_path_buf(), problem: format!("cannot draw: {e}") };
        register_font().map_err(err)?;
        let params = self.space.params();
        let cols = params.len().clamp(1, 3);
        let rows = params.len().div_ceil(cols).max(1);
        let root = BitMapBackend::new(path, (380 * cols as u32, 320 * rows as u32 + 40)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
        let root = root.titled(title, (FAMILY, 22)).map_err(|e| err(e.to_string()))?;
        let (lo, hi) = range(self.trials.iter().filter_map(|t| t.value));
        for (panel, (i, p)) in root.split_evenly((rows, cols)).iter().zip(params.iter().enumerate()) {
            let pts: Vec<(f64, f64)> =
                self.trials.iter().filter_map(|t| Some((p.to_unit(t.values[i])?, t.value?))).collect();
            let (xl, xh) = match p.cardinality() {
                Some(k) if matches!(p.kind, crate::space::Kind::Categorical { .. }) => (-0.5, k as f64 - 0.5),
                _ => (-0.02, 1.02),
            };
            let mut chart = ChartBuilder::on(panel)
                .margin(10)
                .x_label_area_size(35)
                .y_label_area_size(60)
                .build_cartesian_2d(xl..xh, lo..hi)
                .map_err(|e| err(e.to_string()))?;
            let desc = match &p.kind {
                crate::space::Kind::Float { log: true, .. } | crate::space::Kind::Int { log: true, .. } => {
                    format!("{} (log scale, unit)", p.name)
                }
                crate::space::Kind::Categorical { .. } => format!("{} (choice index)", p.name),
                _ => format!("{} (unit)", p.name),
            };
            chart
                .configure_mesh()
                .x_desc(desc)
                .y_desc("objective")
                .label_style((FAMILY, 12))
                .draw()
                .map_err(|e| err(e.to_string()))?;
            chart
                .draw_series(pts.iter().map(|&q| Circle::new(q, 3, RGBColor(31, 119, 180).filled())))
                .map_err(|e| err(e.to_string()))?;
        }
        root.present().map_err(|e| err(e.to_string()))
    }
}

fn range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let pad = ((hi - lo) * 0.05).max(1e-9 * (1.0 + lo.abs()));
    (lo - pad, hi + pad)
}
