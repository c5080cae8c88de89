//! Numbers as people read them: MiB, durations, counts with separators.

/// Bytes in a MiB.
pub const MIB: f64 = 1024.0 * 1024.0;

pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / MIB
}

/// `181.3 MiB`.
pub fn mib_text(bytes: u64) -> String {
    format!("{:.1} MiB", mib(bytes))
}

/// `45.0 s`, `5 min 03 s`, `2 h 07 min`.
pub fn duration(seconds: f64) -> String {
    let whole = seconds as u64;
    match whole {
        0..60 => format!("{seconds:.1} s"),
        60..3600 => format!("{} min {:02} s", whole / 60, whole % 60),
        _ => format!("{} h {:02} min", whole / 3600, whole / 60 % 60),
    }
}

/// `1,234,567`.
pub fn grouped(count: u64) -> String {
    let digits = count.to_string();
    let mut text = String::with_capacity(digits.len() * 4 / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index) % 3 == 0 {
            text.push(',');
        }
        text.push(digit);
    }
    text
}

/// A rate per second, whole: `12,345/s`.
pub fn rate(per_second: f64) -> String {
    format!("{}/s", grouped(per_second.round() as u64))
}

/// Axis labels: `950`, `12k`, `1.5M`.
pub fn short(value: f64) -> String {
    match value.abs() {
        v if v >= 1e6 => format!("{}M", trimmed(value / 1e6)),
        v if v >= 1e3 => format!("{}k", trimmed(value / 1e3)),
        _ => trimmed(value),
    }
}

/// One decimal, without a trailing `.0`.
pub fn trimmed(value: f64) -> String {
    let text = format!("{value:.1}");
    text.strip_suffix(".0").map(str::to_owned).unwrap_or(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_grouped_by_thousands() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1000), "1,000");
        assert_eq!(grouped(1_234_567), "1,234,567");
    }

    #[test]
    fn durations_grow_coarser() {
        assert_eq!(duration(12.34), "12.3 s");
        assert_eq!(duration(303.9), "5 min 03 s");
        assert_eq!(duration(7650.0), "2 h 07 min");
    }

    #[test]
    fn axis_labels_are_short() {
        assert_eq!(short(950.0), "950");
        assert_eq!(short(12_000.0), "12k");
        assert_eq!(short(1_500_000.0), "1.5M");
    }
}
