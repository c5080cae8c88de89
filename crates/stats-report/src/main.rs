//! `stats-report <csv> [--size WxH] [--html]`: the summary of a
//! `MemoryPoolNVSE.stats.csv` on standard output and its charts beside it,
//! and with `--html` the page the plugin writes at exit.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use stats_report::Size;

/// Reads the plugin's statistics CSV, prints a summary and writes three PNG
/// charts beside it: <stem>.memory.png, <stem>.rate.png, <stem>.sizes.png.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// The statistics file, e.g. Data/NVSE/Plugins/MemoryPoolNVSE.stats.csv
    csv: PathBuf,
    /// Size of each chart in pixels, WIDTHxHEIGHT
    #[arg(long, default_value = "1200x700")]
    size: Size,
    /// Also write <stem>.html beside it: the page the plugin writes when the
    /// game quits, summary and charts in one file any browser opens (a
    /// damaged file gives a page that says where)
    #[arg(long)]
    html: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let page_written = args.html && html(&args);
    match stats_report::report(&args.csv, args.size) {
        Ok(report) => {
            if let Some(skipped) = &report.stats.skipped {
                eprintln!("warning: {skipped}");
            }
            print!("{report}");
            if page_written {
                println!("{:<15}{}", "page:", stats_report::html::path(&args.csv).display());
            }
            if args.html && !page_written {
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            if page_written {
                eprintln!("the page says so: {}", stats_report::html::path(&args.csv).display());
            }
            ExitCode::FAILURE
        }
    }
}

/// Writes the page; false (and says why) if it could not.
fn html(args: &Args) -> bool {
    match stats_report::html::write(&args.csv) {
        Ok(_) => true,
        Err(error) => {
            eprintln!("error: {error}");
            false
        }
    }
}
