//! The throughput chart `converge bench` writes: one horizontal bar per stage and scale,
//! in MB/s of data, as a self-contained SVG.

use std::fmt::Write;

/// One bar: a label, its value in MB/s, and whether it is a reference (drawn grey).
pub struct Bar {
    /// `stage (scale)`.
    pub label: String,
    /// MB/s.
    pub value: f64,
    /// A reference measurement (the server's own tools), not `converge`.
    pub reference: bool,
}

/// The chart as SVG text.
pub fn svg(title: &str, bars: &[Bar]) -> String {
    let (left, width, row, top) = (330.0, 420.0, 26.0, 50.0);
    let max = bars.iter().map(|b| b.value).fold(1.0_f64, f64::max);
    let height = top + row * bars.len() as f64 + 40.0;
    let mut o = String::new();
    let _ = writeln!(
        o,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{height}" font-family="sans-serif" font-size="12">"#,
        w = left + width + 110.0
    );
    let _ = writeln!(o, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(o, r#"<text x="10" y="24" font-size="15" font-weight="bold">{}</text>"#, escape(title));
    for (i, b) in bars.iter().enumerate() {
        let y = top + row * i as f64;
        let w = (b.value / max * width).max(1.0);
        let fill = if b.reference { "#9e9e9e" } else { "#2f6fb0" };
        let _ =
            writeln!(o, r#"<text x="{}" y="{}" text-anchor="end">{}</text>"#, left - 8.0, y + 15.0, escape(&b.label));
        let _ = writeln!(o, r#"<rect x="{left}" y="{y}" width="{w:.1}" height="{}" fill="{fill}"/>"#, row - 6.0);
        let _ = writeln!(o, r#"<text x="{:.1}" y="{}">{:.1} MB/s</text>"#, left + w + 6.0, y + 15.0, b.value);
    }
    let _ = writeln!(
        o,
        r##"<text x="10" y="{}" fill="#555">blue: converge; grey: the servers' own tools (references). MB of CSV-encoded data per second.</text>"##,
        height - 14.0
    );
    o.push_str("</svg>\n");
    o
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    #[test]
    fn bars_scale_to_the_largest() {
        let s = super::svg(
            "t <1>",
            &[
                super::Bar { label: "a".into(), value: 100.0, reference: false },
                super::Bar { label: "b".into(), value: 50.0, reference: true },
            ],
        );
        assert!(s.contains(r#"width="420.0""#) && s.contains(r#"width="210.0""#), "{s}");
        assert!(s.contains("t &lt;1&gt;"));
    }
}
