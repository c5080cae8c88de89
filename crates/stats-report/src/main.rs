//! `stats-report <csv> [--size WxH]`: the summary of a
//! `MemoryPoolNVSE.stats.csv` on standard output and its charts beside it.

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
}

fn main() -> ExitCode {
    let args = Args::parse();
    match stats_report::report(&args.csv, args.size) {
        Ok(report) => {
            if let Some(skipped) = &report.stats.skipped {
                eprintln!("warning: {skipped}");
            }
            print!("{report}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
