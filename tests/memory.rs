//! A million-row table exported by the `converge` binary in bounded memory: peak
//! resident set size, as the operating system measures it, stays under 300 MB.

mod common;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_million_rows_export_under_300_mb() {
    let my = MyDb::create("million").await;
    my.exec(
        "CREATE TABLE `big` (id int PRIMARY KEY, u char(36) NOT NULL, body varchar(200) NOT NULL, at datetime(6) NOT NULL, flag tinyint(1) NOT NULL, doc json NULL);\n\
         INSERT INTO big SELECT seq, UUID(), CONCAT('row ', seq, ' ', REPEAT('x', 100), '\\n\"quoted\"'), \
         TIMESTAMPADD(MICROSECOND, seq, '2024-01-01'), seq % 2, IF(seq % 3 = 0, NULL, CONCAT('{\"n\":', seq, '}')) FROM seq_1_to_1000000",
    )
    .await;
    let out = TempDir::new("million");
    let pipeline_file = out.path().join("p.toml");
    std::fs::write(&pipeline_file, export_pipeline("")).unwrap();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_converge"))
        .args(["--quiet", "run"])
        .arg(&pipeline_file)
        .env("MYSQL_URL", &my.url)
        .env("OUT", out.path().join("exports"))
        .status()
        .unwrap();
    assert!(child.success());
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    assert_eq!(unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) }, 0);
    let peak_mb = usage.ru_maxrss as f64 / 1024.0;
    eprintln!("peak RSS of the 1M-row export: {peak_mb:.1} MB");
    assert!(peak_mb < 300.0, "peak RSS {peak_mb:.1} MB");

    let latest = out.path().join("exports/latest");
    let m = converge::manifest::Manifest::read(&latest).unwrap();
    assert_eq!(m.tables[0].row_count, 1_000_000);
    my.drop_db().await;
}
