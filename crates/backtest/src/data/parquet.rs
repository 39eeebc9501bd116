//! Parquet data files (DESIGN.md §6.1), as pandas, pyarrow and Polars write them: the columns
//! found by the same names and aliases as in a CSV file, the time from a timestamp or date column
//! (pandas' index column included) or from text in any format the CSV reader knows. Each column
//! chunk is read whole with its typed reader, row group by row group, straight into the bars'
//! columns. Every problem names the file, the row group, the row and the column.

use std::fs::File;
use std::path::Path;

use parquet::basic::{ConvertedType, LogicalType, TimeUnit, Type as Physical};
use parquet::column::reader::{ColumnReader, ColumnReaderImpl};
use parquet::data_type::DataType;
use parquet::file::reader::{FileReader, RowGroupReader, SerializedFileReader};

use super::error::DataError;
use super::fields::parse_number;
use super::layout::TimeFormat;
use super::layout::{Role, detect_time, find_prices, read_as};
use super::model::{Bars, Detected, LoadOptions};
use super::times::Times;

/// A column chunk's non-null values, densely, and the rows that are null.
struct Chunk {
    values: Dense,
    nulls: Vec<usize>,
}

enum Dense {
    Num(Vec<f64>),
    Int(Vec<i64>),
    Text(Vec<String>),
}

fn read_raw<T: DataType>(
    r: &mut ColumnReaderImpl<T>,
    rows: usize,
    max_def: i16,
) -> Result<(Vec<T::T>, Vec<usize>), String>
where
    T::T: Default + Clone,
{
    let mut defs: Vec<i16> = Vec::with_capacity(if max_def > 0 { rows } else { 0 });
    let mut values: Vec<T::T> = Vec::with_capacity(rows);
    let mut read = 0;
    while read < rows {
        let (records, _, _) = r
            .read_records(rows - read, Some(&mut defs), None, &mut values)
            .map_err(|e| e.to_string())?;
        if records == 0 {
            break;
        }
        read += records;
    }
    let nulls = if values.len() == rows {
        Vec::new()
    } else {
        defs.iter()
            .enumerate()
            .filter(|(_, d)| **d < max_def)
            .map(|(k, _)| k)
            .collect()
    };
    Ok((values, nulls))
}

fn read_column(
    rg: &dyn RowGroupReader,
    i: usize,
    rows: usize,
    max_def: i16,
) -> Result<Chunk, String> {
    let reader = rg.get_column_reader(i).map_err(|e| e.to_string())?;
    let (values, nulls) = match reader {
        ColumnReader::DoubleColumnReader(mut r) => {
            let (v, n) = read_raw(&mut r, rows, max_def)?;
            (Dense::Num(v), n)
        }
        ColumnReader::FloatColumnReader(mut r) => {
            let (v, n) = read_raw(&mut r, rows, max_def)?;
            (Dense::Num(v.into_iter().map(f64::from).collect()), n)
        }
        ColumnReader::Int32ColumnReader(mut r) => {
            let (v, n) = read_raw(&mut r, rows, max_def)?;
            (Dense::Int(v.into_iter().map(i64::from).collect()), n)
        }
        ColumnReader::Int64ColumnReader(mut r) => {
            let (v, n) = read_raw(&mut r, rows, max_def)?;
            (Dense::Int(v), n)
        }
        ColumnReader::Int96ColumnReader(mut r) => {
            // Legacy Impala/Spark timestamps: milliseconds since the epoch.
            let (v, n) = read_raw(&mut r, rows, max_def)?;
            (
                Dense::Int(v.iter().map(parquet::data_type::Int96::to_millis).collect()),
                n,
            )
        }
        ColumnReader::ByteArrayColumnReader(mut r) => {
            let (v, n) = read_raw(&mut r, rows, max_def)?;
            let text = v
                .iter()
                .map(|b| String::from_utf8_lossy(b.data()).into_owned())
                .collect();
            (Dense::Text(text), n)
        }
        ColumnReader::BoolColumnReader(_) => {
            return Err("is true/false, not a number or a time".to_owned());
        }
        ColumnReader::FixedLenByteArrayColumnReader(_) => {
            return Err("is fixed-length binary (a decimal?): write it as a double".to_owned());
        }
    };
    Ok(Chunk { values, nulls })
}

/// The row of the `k`-th non-null value, given the null rows in order.
fn row_of(k: usize, nulls: &[usize]) -> usize {
    let mut row = k;
    for &n in nulls {
        if n <= row {
            row += 1;
        } else {
            break;
        }
    }
    row
}

/// How a time column's integers are read.
#[derive(Clone, Copy, PartialEq, Eq)]
enum IntTime {
    Millis,
    Micros,
    Nanos,
    Days,
}

impl IntTime {
    fn to_ms(self, v: i64) -> i64 {
        match self {
            IntTime::Millis => v,
            IntTime::Micros => v.div_euclid(1000),
            IntTime::Nanos => v.div_euclid(1_000_000),
            IntTime::Days => v.saturating_mul(86_400_000),
        }
    }
}

/// Reads a Parquet file into bars.
///
/// # Errors
/// [`DataError::Bad`] naming the file, the row group, the row (as `line`: 1-based over the whole
/// file) and the column.
#[expect(
    clippy::too_many_lines,
    reason = "columns, times and checks in file order"
)]
pub(super) fn load(
    path: &Path,
    file: &str,
    opts: &LoadOptions,
) -> Result<(Bars, Detected), DataError> {
    let bad = |line: u64, message: String| DataError::Bad {
        file: file.to_owned(),
        line,
        message,
    };
    let handle = File::open(path).map_err(|source| DataError::Read {
        file: file.to_owned(),
        source,
    })?;
    let reader = SerializedFileReader::new(handle)
        .map_err(|e| bad(0, format!("is not a readable Parquet file: {e}")))?;
    let meta = reader.metadata();
    let schema = meta.file_metadata().schema_descr();
    let names: Vec<String> = (0..schema.num_columns())
        .map(|i| schema.column(i).name().to_owned())
        .collect();
    let listed: Vec<&str> = names.iter().map(String::as_str).collect();
    let (roles, [open, high, low, close]) = find_prices(&listed, |m| bad(0, m))?;
    let find = |r: Role| roles.iter().position(|x| *x == Some(r));
    // The time: a named time column, pandas' index column, else the first column.
    let time = find(Role::Time)
        .or_else(|| find(Role::TimeOfDay))
        .or_else(|| names.iter().position(|n| n == "__index_level_0__" || n == "index"))
        .or_else(|| (roles.first() == Some(&None)).then_some(0))
        .ok_or_else(|| {
            bad(
                0,
                "no time column: name it Date, Time, Datetime or Timestamp (pandas writes its index as one)".to_owned(),
            )
        })?;
    let volume = find(Role::Volume);
    let adj = find(Role::AdjClose);
    if opts.adjusted && adj.is_none() {
        return Err(bad(
            0,
            "--adjusted needs an `Adj Close` column, and the file has none".to_owned(),
        ));
    }
    let col = schema.column(time);
    let int_time = match (
        col.logical_type_ref(),
        col.converted_type(),
        col.physical_type(),
    ) {
        (Some(LogicalType::Timestamp(t)), _, _) => Some(match t.unit {
            TimeUnit::MILLIS => IntTime::Millis,
            TimeUnit::MICROS => IntTime::Micros,
            TimeUnit::NANOS => IntTime::Nanos,
        }),
        (Some(LogicalType::Date), _, _) | (_, ConvertedType::DATE, _) => Some(IntTime::Days),
        (_, ConvertedType::TIMESTAMP_MILLIS, _) | (_, _, Physical::INT96) => Some(IntTime::Millis),
        (_, ConvertedType::TIMESTAMP_MICROS, _) => Some(IntTime::Micros),
        _ => None,
    };
    let mut bars = Bars::default();
    let mut format: Option<TimeFormat> = opts.date_format.clone().map(TimeFormat::Custom);
    let mut texts: Vec<String> = Vec::new();
    let mut midnight = true;
    let mut first_row: u64 = 0;
    for g in 0..meta.num_row_groups() {
        let rg = reader
            .get_row_group(g)
            .map_err(|e| bad(first_row + 1, format!("row group {g}: cannot be read: {e}")))?;
        let rows = usize::try_from(rg.metadata().num_rows()).unwrap_or(0);
        let read = |i: usize| {
            read_column(rg.as_ref(), i, rows, schema.column(i).max_def_level()).map_err(|m| {
                bad(
                    first_row + 1,
                    format!("row group {g}: column `{}`: {m}", names[i]),
                )
            })
        };
        let number = |i: usize, optional: bool| -> Result<Vec<f64>, DataError> {
            let chunk = read(i)?;
            let at = |k: usize| first_row + row_of(k, &chunk.nulls) as u64 + 1;
            if let (Some(&k), false) = (chunk.nulls.first(), optional) {
                return Err(bad(
                    first_row + k as u64 + 1,
                    format!("row group {g}: column `{}`: is empty (null)", names[i]),
                ));
            }
            let dense: Vec<f64> = match chunk.values {
                Dense::Num(v) => v,
                #[expect(clippy::cast_precision_loss, reason = "volumes as pandas reads them")]
                Dense::Int(v) => v.into_iter().map(|x| x as f64).collect(),
                Dense::Text(v) => {
                    let mut out = Vec::with_capacity(v.len());
                    for (k, t) in v.iter().enumerate() {
                        out.push(parse_number(t.trim()).ok_or_else(|| {
                            bad(
                                at(k),
                                format!(
                                    "row group {g}: column `{}`: `{t}` is not a number",
                                    names[i]
                                ),
                            )
                        })?);
                    }
                    out
                }
            };
            if let Some(k) = dense.iter().position(|x| !x.is_finite()) {
                return Err(bad(
                    at(k),
                    format!(
                        "row group {g}: column `{}`: {} is not a finite number",
                        names[i], dense[k]
                    ),
                ));
            }
            if chunk.nulls.is_empty() {
                return Ok(dense);
            }
            // An optional column with empty rows: NaN there.
            let mut out = Vec::with_capacity(rows);
            let mut values = dense.into_iter();
            let mut nulls = chunk.nulls.iter().peekable();
            for k in 0..rows {
                if nulls.peek() == Some(&&k) {
                    nulls.next();
                    out.push(f64::NAN);
                } else {
                    out.push(values.next().unwrap_or(f64::NAN));
                }
            }
            Ok(out)
        };
        let (mut op, mut hi, mut lo, mut cl) = (
            number(open, false)?,
            number(high, false)?,
            number(low, false)?,
            number(close, false)?,
        );
        let vol = match volume {
            Some(i) => number(i, true)?,
            None => vec![f64::NAN; rows],
        };
        if opts.adjusted
            && let Some(a) = adj
        {
            let adj_close = number(a, false)?;
            for k in 0..rows {
                let ratio = adj_close[k] / cl[k];
                op[k] *= ratio;
                hi[k] *= ratio;
                lo[k] *= ratio;
                cl[k] *= ratio;
            }
        }
        // Times as milliseconds; text kept (or rendered) once the whole file is read.
        let chunk = read(time)?;
        if let Some(&k) = chunk.nulls.first() {
            return Err(bad(
                first_row + k as u64 + 1,
                format!(
                    "row group {g}: column `{}`: the time is empty (null)",
                    names[time]
                ),
            ));
        }
        let parse_texts = |v: Vec<String>,
                           format: &mut Option<TimeFormat>,
                           texts: &mut Vec<String>|
         -> Result<Vec<i64>, DataError> {
            v.iter()
                .enumerate()
                .map(|(k, t)| {
                    let line = first_row + k as u64 + 1;
                    parse_text_time(t.trim(), format, texts, line, g, &names[time], &bad)
                })
                .collect()
        };
        let ms: Vec<i64> = match (chunk.values, int_time) {
            (Dense::Int(mut v), Some(unit)) => {
                for t in &mut v {
                    *t = unit.to_ms(*t);
                }
                v
            }
            // An integer with no time type, or text: read in the format its first value shows.
            (Dense::Int(v), None) => parse_texts(
                v.iter().map(ToString::to_string).collect(),
                &mut format,
                &mut texts,
            )?,
            (Dense::Text(v), _) => parse_texts(v, &mut format, &mut texts)?,
            (Dense::Num(_), _) => {
                return Err(bad(
                    first_row + 1,
                    format!(
                        "row group {g}: column `{}`: a floating-point number is not a time",
                        names[time]
                    ),
                ));
            }
        };
        midnight &= ms.iter().all(|t| t.rem_euclid(86_400_000) == 0);
        for k in 0..rows {
            let line = first_row + k as u64 + 1;
            if hi[k] < lo[k] {
                return Err(bad(
                    line,
                    format!(
                        "row group {g}: column `{}`: High {} is below Low {}",
                        names[high], hi[k], lo[k]
                    ),
                ));
            }
            let prev = if k == 0 {
                bars.epoch_ms.last().copied()
            } else {
                Some(ms[k - 1])
            };
            if let Some(prev) = prev {
                if ms[k] == prev {
                    return Err(bad(
                        line,
                        format!(
                            "row group {g}: column `{}`: the time repeats the previous row's",
                            names[time]
                        ),
                    ));
                }
                if ms[k] < prev {
                    return Err(bad(
                        line,
                        format!(
                            "row group {g}: column `{}`: the time is earlier than the previous row's: rows must be in time order",
                            names[time]
                        ),
                    ));
                }
            }
        }
        if bars.epoch_ms.is_empty() {
            bars.epoch_ms = std::sync::Arc::new(ms);
        } else {
            std::sync::Arc::make_mut(&mut bars.epoch_ms).extend_from_slice(&ms);
        }
        // The first row group's columns become the bars' (no copy); later ones are appended.
        for (dst, src) in [
            (&mut bars.open, op),
            (&mut bars.high, hi),
            (&mut bars.low, lo),
            (&mut bars.close, cl),
            (&mut bars.volume, vol),
        ] {
            if dst.is_empty() {
                *dst = std::sync::Arc::new(src);
            } else {
                std::sync::Arc::make_mut(dst).extend_from_slice(&src);
            }
        }
        first_row += rows as u64;
    }
    if bars.close.is_empty() {
        return Err(bad(0, "no rows of data".to_owned()));
    }
    // Text times stay as written when ISO; everything else is written out in ISO 8601, as a
    // date when every bar is at midnight.
    if !texts.is_empty() && format == Some(TimeFormat::Iso) {
        let mut time = Times::with_capacity(texts.len(), texts.first().map_or(0, String::len));
        for t in &texts {
            time.push(t);
        }
        bars.time = time;
    } else {
        bars.time = Times::rendered(std::sync::Arc::clone(&bars.epoch_ms), midnight);
    }
    let describe = match (int_time, &format) {
        (Some(IntTime::Days), _) => TimeFormat::Native("Parquet DATE".to_owned()),
        (Some(u), _) => TimeFormat::Native(format!(
            "Parquet timestamp ({})",
            match u {
                IntTime::Millis => "milliseconds",
                IntTime::Micros => "microseconds",
                _ => "nanoseconds",
            }
        )),
        (None, Some(f)) => f.clone(),
        (None, None) => TimeFormat::Iso,
    };
    let columns = read_as(&listed, &roles, &[time], opts.adjusted);
    Ok((
        bars,
        Detected {
            format: "parquet",
            delimiter: ',',
            decimal_comma: false,
            gzip: false,
            columns,
            time_columns: vec![names[time].clone()],
            time_format: describe,
            offsets: false,
            adjusted: opts.adjusted,
        },
    ))
}

/// A time written as text (or an integer without a time type): the format detected from the
/// first one, then every row read in it.
fn parse_text_time(
    raw: &str,
    format: &mut Option<TimeFormat>,
    texts: &mut Vec<String>,
    line: u64,
    g: usize,
    column: &str,
    bad: &impl Fn(u64, String) -> DataError,
) -> Result<i64, DataError> {
    if format.is_none() {
        let f = detect_time(&[raw])
            .map_err(|m| bad(line, format!("row group {g}: column `{column}`: {m}")))?;
        *format = Some(f);
    }
    let f = format.as_ref().map_or(&TimeFormat::Iso, |f| f);
    let (ms, _) = f.parse(raw).ok_or_else(|| {
        bad(
            line,
            format!(
                "row group {g}: column `{column}`: `{raw}` is not in the file's time format ({}); one file holds one format (--date-format sets it)",
                f.describe()
            ),
        )
    })?;
    texts.push(raw.to_owned());
    Ok(ms)
}
