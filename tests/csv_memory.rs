//! Reading a CSV file takes memory in proportion to the rows it keeps, never to the file:
//! a counting allocator measures the peak of reading files with one very long line (with
//! and without field separators) and a valid file whose text is much larger than the
//! numbers it holds.
//!
//! One test in its own binary, so that no other test allocates while it measures.
#![cfg(feature = "data")]

use std::io::Write;

use monograd::nn::data::{Csv, CsvProblem, DataError};

mod common;

#[global_allocator]
static ALLOCATOR: common::Counting = common::Counting;

/// Bytes a read may use beyond the rows it keeps and its line: the reader's 64 KiB
/// buffer, the field boundaries of a short line, the column names, the error.
const SLACK: usize = 192 * 1024;

/// The most one line may cost: the line's buffer, which grows by doubling up to the
/// limit (and, while it moves, exists twice).
const LINE: usize = 2 * Csv::DEFAULT_MAX_LINE_LEN;

#[test]
fn reading_takes_memory_for_the_rows_kept_not_for_the_file() {
    let dir = std::env::temp_dir().join(format!("monograd-csv-memory-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();

    // One 16 MiB line of digits, no line end: stopped at the line limit.
    let path = dir.join("one-line.csv");
    std::fs::write(&path, vec![b'7'; 16 << 20]).unwrap();
    let (peak, r) = common::peak_of(|| Csv::new().read::<f32>(&path));
    assert!(matches!(r, Err(DataError::Csv { line: Some(1), problem: CsvProblem::LineTooLong { .. }, .. })), "{r:?}");
    println!("a 16 MiB line: peak {peak} bytes");
    assert!(peak <= LINE + SLACK, "a 16 MiB line took {peak} bytes");
    drop(r);

    // One 16 MiB line of 8 million one-digit fields: no field is kept past the line limit.
    let path = dir.join("many-fields.csv");
    std::fs::write(&path, b"1,".repeat(8 << 20)).unwrap();
    let (peak, r) = common::peak_of(|| Csv::new().read::<f32>(&path));
    assert!(r.is_err());
    println!("8M fields on one line: peak {peak} bytes");
    assert!(peak <= LINE + SLACK + 24 * Csv::DEFAULT_MAX_FIELDS, "8M fields took {peak} bytes");
    drop(r);

    // A valid file: 200,000 rows of 4 numbers written with 24 characters each (20 MB of
    // text for 3.2 MB of f32). The rows kept may take up to three times their size while
    // the vectors that hold them grow (a doubled block and the one it moves from).
    let path = dir.join("rows.csv");
    let rows = 200_000;
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        writeln!(f, "a,b,c,y").unwrap();
        for i in 0..rows {
            let v = (i % 1000) as f64 / 8.0;
            writeln!(f, "{v:024.6},{v:024.6},{v:024.6},{v:024.6}").unwrap();
        }
    }
    let file_len = std::fs::metadata(&path).unwrap().len() as usize;
    let kept = rows * 4 * std::mem::size_of::<f32>();
    let (peak, t) = common::peak_of(|| Csv::new().read::<f32>(&path).unwrap());
    assert_eq!((t.data.len(), t.data.numel()), (rows, 3));
    assert_eq!(t.data.targets()[9], 9.0 / 8.0);
    println!("{rows} rows, {kept} bytes kept, a {file_len}-byte file: peak {peak} bytes");
    assert!(peak <= 3 * kept + SLACK, "{rows} rows ({kept} bytes kept, a {file_len}-byte file) took {peak} bytes");
    assert!(peak < file_len, "the peak ({peak}) should be well below the file's size ({file_len})");
    drop(t);

    std::fs::remove_dir_all(&dir).unwrap();
}
