//! Plots as PNG and SVG (plotters): PPO curves, validation agreement over IRL epochs, the
//! study's seeds x epochs heatmap, the EPIC matrix between recovered rewards, and the
//! confusion matrix of the best recovered reward's sign labels.

use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::results::PipelineResults;

type Series = (String, Vec<(f64, f64)>);

const FONT_PATHS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
];

/// Registers a system font for the plots' text; returns false when none is found.
fn register_font() -> bool {
    static ONCE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ONCE.get_or_init(|| {
        for p in FONT_PATHS {
            if let Ok(bytes) = std::fs::read(p) {
                let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                if plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok() {
                    return true;
                }
            }
        }
        false
    })
}

fn lines<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    title: &str,
    y: &str,
    series: &[Series],
) -> anyhow::Result<()>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let pts = series
        .iter()
        .flat_map(|(_, p)| p.iter())
        .filter(|(_, v)| v.is_finite());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, v) in pts {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(v);
        y1 = y1.max(v);
    }
    if x0 > x1 {
        (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
    }
    let pad = ((y1 - y0) * 0.05).max(1e-3);
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(56)
        .build_cartesian_2d(x0..x1.max(x0 + 1.0), (y0 - pad)..(y1 + pad))
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    chart
        .configure_mesh()
        .y_desc(y)
        .draw()
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    for (i, (name, p)) in series.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let p: Vec<(f64, f64)> = p.iter().copied().filter(|(_, v)| v.is_finite()).collect();
        chart
            .draw_series(LineSeries::new(p, color.stroke_width(2)))
            .map_err(|e| anyhow::anyhow!("{e:?}"))?
            .label(name.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    root.present().map_err(|e| anyhow::anyhow!("{e:?}"))?;
    Ok(())
}

fn heatmap<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    title: &str,
    m: &[Vec<f64>],
    rows: &[String],
    cols: &[String],
) -> anyhow::Result<()>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let (nr, nc) = (m.len().max(1), m.first().map_or(1, Vec::len).max(1));
    let finite = m.iter().flatten().copied().filter(|v| v.is_finite());
    let (lo, hi) = finite.fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(v), b.max(v)));
    let span = if hi > lo { hi - lo } else { 1.0 };
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("{title} (min {lo:.2}, max {hi:.2})"),
            ("sans-serif", 20),
        )
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(90)
        .build_cartesian_2d(0..nc, 0..nr)
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_label_formatter(&|x| cols.get(*x).cloned().unwrap_or_default())
        .y_label_formatter(&|y| rows.get(*y).cloned().unwrap_or_default())
        .draw()
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    chart
        .draw_series(m.iter().enumerate().flat_map(|(r, row)| {
            row.iter().enumerate().map(move |(c, &v)| {
                let t = if v.is_finite() { (v - lo) / span } else { 0.0 };
                let color = HSLColor(0.66 - 0.66 * t, 0.75, 0.5);
                Rectangle::new([(c, r), (c + 1, r + 1)], color.filled())
            })
        }))
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    chart
        .draw_series(m.iter().enumerate().flat_map(|(r, row)| {
            row.iter().enumerate().map(move |(c, &v)| {
                Text::new(
                    format!("{v:.2}"),
                    (c, r + 1),
                    ("sans-serif", 14).into_font(),
                )
            })
        }))
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    root.present().map_err(|e| anyhow::anyhow!("{e:?}"))?;
    Ok(())
}

/// Renders `draw` to `<dir>/<stem>.svg` and (with a font) `<dir>/<stem>.png`.
fn both(
    dir: &Path,
    stem: &str,
    draw: impl Fn(Target<'_>) -> anyhow::Result<()>,
) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    if !register_font() {
        anyhow::bail!("no DejaVuSans.ttf found in {FONT_PATHS:?}; plots need a font (apt install fonts-dejavu-core)");
    }
    let svg = dir.join(format!("{stem}.svg"));
    draw(Target::Svg(&svg))?;
    out.push(svg);
    let png = dir.join(format!("{stem}.png"));
    draw(Target::Png(&png))?;
    out.push(png);
    Ok(out)
}

/// Where a plot goes.
enum Target<'a> {
    Svg(&'a Path),
    Png(&'a Path),
}

fn render_lines(
    dir: &Path,
    stem: &str,
    title: &str,
    y: &str,
    series: &[Series],
) -> anyhow::Result<Vec<PathBuf>> {
    both(dir, stem, |t| match t {
        Target::Svg(p) => lines(
            SVGBackend::new(p, (900, 520)).into_drawing_area(),
            title,
            y,
            series,
        ),
        Target::Png(p) => lines(
            BitMapBackend::new(p, (900, 520)).into_drawing_area(),
            title,
            y,
            series,
        ),
    })
}

fn render_heatmap(
    dir: &Path,
    stem: &str,
    title: &str,
    m: &[Vec<f64>],
    rows: &[String],
    cols: &[String],
) -> anyhow::Result<Vec<PathBuf>> {
    both(dir, stem, |t| match t {
        Target::Svg(p) => heatmap(
            SVGBackend::new(p, (800, 600)).into_drawing_area(),
            title,
            m,
            rows,
            cols,
        ),
        Target::Png(p) => heatmap(
            BitMapBackend::new(p, (800, 600)).into_drawing_area(),
            title,
            m,
            rows,
            cols,
        ),
    })
}

/// Writes every plot of the run into `dir`; returns the files.
pub fn render_all(r: &PipelineResults, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut files = Vec::new();
    let curve = |h: &[rlhf_ppo::IterationStats],
                 f: fn(&rlhf_ppo::IterationStats) -> f64|
     -> Vec<(f64, f64)> { h.iter().map(|s| (s.iteration as f64, f(s))).collect() };
    // Each PPO run: the expert's, the recovered reward's, the implicit reward's if run.
    let ppo_series = |f: fn(&rlhf_ppo::IterationStats) -> f64| -> Vec<Series> {
        let mut series = vec![
            ("ground truth".to_owned(), curve(&r.ppo_expert, f)),
            (
                format!("recovered ({})", r.ppo_irl_reward),
                curve(&r.ppo_irl, f),
            ),
        ];
        if let Some(h) = &r.ppo_implicit {
            series.push(("implicit".to_owned(), curve(h, f)));
        }
        series
    };
    files.extend(render_lines(
        dir,
        "ppo_score",
        "PPO: mean reward of rollouts",
        "mean score",
        &ppo_series(|s| s.mean_score),
    )?);
    files.extend(render_lines(
        dir,
        "ppo_kl",
        "PPO: KL to the reference",
        "KL (nats)",
        &ppo_series(|s| s.kl),
    )?);
    let irl_curve = |key: fn(&tox_eval::AgreementReport) -> f64| -> Vec<Series> {
        r.irl
            .iter()
            .filter_map(|run| {
                let t = run.train.as_ref()?;
                let pts = t
                    .epochs
                    .iter()
                    .filter_map(|e| Some((e.epoch as f64 + 1.0, key(e.agreement.as_ref()?))))
                    .collect();
                Some((run.name.clone(), pts))
            })
            .collect()
    };
    files.extend(render_lines(
        dir,
        "irl_pairwise_accuracy",
        "IRL: validation pairwise accuracy",
        "accuracy",
        &irl_curve(|a| a.pairwise_preference_accuracy.unwrap_or(f64::NAN)),
    )?);
    files.extend(render_lines(
        dir,
        "irl_sign_accuracy",
        "IRL: validation sign accuracy (paper)",
        "accuracy",
        &irl_curve(|a| a.sign.accuracy),
    )?);
    files.extend(render_lines(
        dir,
        "irl_spearman",
        "IRL: validation Spearman correlation",
        "Spearman",
        &irl_curve(|a| a.spearman),
    )?);
    if let Some(study) = &r.study {
        let rows: Vec<String> = study.seeds.iter().map(|s| format!("seed {s}")).collect();
        for (metric, grid) in &study.grids {
            let cols: Vec<String> = (1..=grid.first().map_or(0, Vec::len))
                .map(|e| e.to_string())
                .collect();
            files.extend(render_heatmap(
                dir,
                &format!("study_{metric}"),
                &format!("{metric}: seeds x epochs"),
                grid,
                &rows,
                &cols,
            )?);
        }
        files.extend(render_heatmap(
            dir,
            "study_epic_matrix",
            "EPIC distance between recovered rewards",
            &study.epic_matrix,
            &rows,
            &rows,
        )?);
    }
    if let Some(best) = r.irl.first() {
        let m = &best.confusion;
        let grid = vec![
            vec![m[0][0] as f64, m[0][1] as f64],
            vec![m[1][0] as f64, m[1][1] as f64],
        ];
        let labels = vec!["toxic".to_string(), "non-toxic".to_string()];
        files.extend(render_heatmap(
            dir,
            "confusion_matrix",
            &format!("{}: sign labels (rows: truth, cols: learned)", best.name),
            &grid,
            &labels,
            &labels,
        )?);
    }
    Ok(files)
}
