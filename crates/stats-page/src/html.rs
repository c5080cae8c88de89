//! The page itself: one HTML file with its style sheet and its charts
//! inline, no script, nothing loaded from anywhere (its Content Security
//! Policy says so to the browser), readable offline in any browser.

use std::borrow::Cow;
use std::fmt::Write as _;

use crate::charts::Figure;
use crate::summary::Summary;

/// What the page says about where it comes from.
pub struct About<'a> {
    /// The statistics file, as the page names it.
    pub file: &'a str,
    /// Who wrote the page and when, e.g. `MemoryPoolNVSE 0.1.0 when the game quit`.
    pub made_by: &'a str,
}

/// Something a reader must know before trusting the numbers.
pub enum Notice {
    /// The file is damaged from this point on: the message, and whether
    /// rows before it are shown.
    Damaged { message: String, rows_before: usize },
    /// The last line was cut short and left out.
    CutShort(String),
}

const STYLE: &str = "\
body{font:15px/1.45 'Segoe UI',Tahoma,'DejaVu Sans',Arial,sans-serif;color:#222;background:#f6f6f4;margin:0}\
main{max-width:1000px;margin:0 auto;padding:16px 20px 32px}\
h1{font-size:24px;margin:8px 0 4px}h2{font-size:19px;margin:28px 0 8px}\
.source{color:#555;margin:0 0 12px}\
.notice{border-left:5px solid #d62728;background:#fff3f0;padding:10px 14px;margin:14px 0}\
table{border-collapse:collapse;background:#fff;width:100%}\
th,td{text-align:left;vertical-align:top;padding:5px 10px;border-bottom:1px solid #e4e4e0}\
th{white-space:nowrap;font-weight:600;width:9em}\
figure{margin:0;background:#fff;border:1px solid #e4e4e0;padding:8px}\
figcaption{color:#444;font-size:14px;margin:6px 4px 2px}\
svg.chart{display:block;width:100%;height:auto}\
svg text{font-family:'Segoe UI',Tahoma,'DejaVu Sans',Arial,sans-serif;font-size:13px;fill:#333}\
svg .grid line{stroke:#e3e3e3;stroke-width:1}\
svg .axis{fill:none;stroke:#666;stroke-width:1}\
svg .axis-name{font-size:13px;fill:#555}\
svg .note{font-size:11px}\
svg .mark text{font-weight:600;paint-order:stroke;stroke:#fff;stroke-width:4px}\
footer{color:#666;font-size:13px;margin-top:28px}";

/// The whole page.
pub fn page(about: &About, summary: Option<&Summary>, figures: &[Figure], notices: &[Notice]) -> String {
    let mut html = String::with_capacity(figures.iter().map(|f| f.svg.len()).sum::<usize>() + 16 * 1024);
    let file = escape(about.file);
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>MemoryPoolNVSE: {file}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n\
         <h1>MemoryPoolNVSE: memory over a game session</h1>\n<p class=\"source\">From {file}"
    );
    if let Some(summary) = summary {
        let _ = write!(html, ", {} rows", crate::units::grouped(summary.rows as u64));
    }
    html.push_str(".</p>\n");
    for notice in notices {
        write_notice(&mut html, notice);
    }
    if let Some(summary) = summary {
        write_summary(&mut html, summary);
    }
    for figure in figures {
        let _ = write!(
            html,
            "<section id=\"{id}-section\">\n<h2>{heading}</h2>\n<figure>\n{svg}\n<figcaption>{caption}</figcaption>\n</figure>\n</section>\n",
            id = figure.id,
            heading = escape(figure.heading),
            svg = figure.svg,
            caption = escape(&figure.caption)
        );
    }
    let _ = write!(
        html,
        "<footer>Written by {}. The statistics come from MemoryPoolNVSE.stats.csv, which the plugin writes with \
         [Stats] CsvIntervalSeconds set in MemoryPoolNVSE.ini. This page is self-contained: it loads nothing and \
         runs no script.</footer>\n</main>\n</body>\n</html>\n",
        escape(about.made_by)
    );
    html
}

fn write_notice(html: &mut String, notice: &Notice) {
    let text = match notice {
        Notice::Damaged { message, rows_before: 0 } => {
            format!("The statistics file is damaged, and no row can be shown: {message}")
        }
        Notice::Damaged { message, rows_before } => format!(
            "The statistics file is damaged: {message}. The page shows the {} rows before the damage.",
            crate::units::grouped(*rows_before as u64)
        ),
        Notice::CutShort(message) => {
            format!("The game stopped while writing the last row, which is left out: {message}.")
        }
    };
    let _ = writeln!(html, "<p class=\"notice\" role=\"alert\">{}</p>", escape(&text));
}

/// The summary the report tool prints, as a table.
fn write_summary(html: &mut String, summary: &Summary) {
    html.push_str("<section id=\"summary\">\n<h2>Summary</h2>\n<table>\n");
    for (label, text) in summary.lines() {
        let _ = writeln!(html, "<tr><th scope=\"row\">{}</th><td>{}</td></tr>", escape(label), escape(&text));
    }
    html.push_str("</table>\n</section>\n");
}

/// Text safe in HTML content and in quoted attribute values.
pub fn escape(text: &str) -> Cow<'_, str> {
    if !text.contains(['&', '<', '>', '"', '\'']) {
        return Cow::Borrowed(text);
    }
    let mut escaped = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    Cow::Owned(escaped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_is_escaped() {
        assert_eq!(escape("plain 12.5 MiB"), "plain 12.5 MiB");
        assert_eq!(
            escape(r#"<script>"a" & 'b'</script>"#),
            "&lt;script&gt;&quot;a&quot; &amp; &#39;b&#39;&lt;/script&gt;"
        );
    }
}
