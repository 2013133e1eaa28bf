//! `converge bench`: its arguments as options, the measurements as text or JSON, the chart.

use super::{Cli, Command};

/// `converge bench`: its arguments as options.
pub(super) async fn bench_args(cli: &Cli, c: &Command) -> converge::Result<()> {
    let Command::Bench {
        rows,
        seed,
        mysql,
        pg,
        source,
        target,
        work_dir,
        keep,
        no_verify,
        connections,
        repeat,
        chart,
        follow,
        cutover,
    } = c
    else {
        unreachable!("called for the bench command only")
    };
    let o = converge::bench::BenchOptions {
        rows: rows.clone(),
        seed: *seed,
        mysql_server: mysql.clone(),
        pg_server: pg.clone(),
        existing: source.clone().zip(target.clone()),
        work_dir: work_dir.clone(),
        keep: *keep,
        verify: !no_verify,
        connections: *connections,
        repeat: *repeat as usize,
        follow: *follow,
        cutover: *cutover,
    };
    bench_command(cli, &o, chart).await
}

/// `converge bench`: the measurements, the chart written to `chart`.
pub(super) async fn bench_command(
    cli: &Cli,
    o: &converge::bench::BenchOptions,
    chart: &std::path::Path,
) -> converge::Result<()> {
    let results = converge::bench::run(o).await?;
    std::fs::write(chart, converge::bench::chart(&results)).map_err(|e| converge::Error::io(chart, e))?;
    if cli.json {
        println!("{}", serde_json::to_string(&results).expect("results serialise"));
    } else if !cli.quiet {
        print!("{}", converge::bench::text(&results));
        println!("chart: {}", chart.display());
    }
    Ok(())
}
