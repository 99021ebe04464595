//! Atomic file output and Markdown tables.

use std::fs;
use std::path::Path;

use xbar_report::{MdTable, ReportError, write_atomic, write_csv_atomic, write_json_atomic};

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn write_atomic_creates_overwrites_and_leaves_no_temp_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/deeper/out.txt");
    write_atomic(&path, b"first").unwrap();
    assert_eq!(fs::read(&path).unwrap(), b"first");
    write_atomic(&path, b"second, longer content").unwrap();
    assert_eq!(fs::read(&path).unwrap(), b"second, longer content");
    write_atomic(&path, b"").unwrap();
    assert_eq!(fs::read(&path).unwrap(), b"");
    assert_eq!(names(&dir.path().join("nested/deeper")), ["out.txt"]);
}

#[test]
fn write_atomic_from_many_threads_leaves_one_complete_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("race.bin");
    std::thread::scope(|s| {
        for t in 0..8u8 {
            let path = &path;
            s.spawn(move || {
                for _ in 0..10 {
                    write_atomic(path, &vec![t; 10_000]).unwrap();
                }
            });
        }
    });
    let data = fs::read(&path).unwrap();
    assert_eq!(data.len(), 10_000);
    assert!(data.iter().all(|&b| b == data[0]));
    assert_eq!(names(dir.path()), ["race.bin"]);
}

#[test]
fn write_atomic_error_leaves_no_temp_file() {
    let dir = tempfile::tempdir().unwrap();
    // The target is an existing non-empty directory: the rename fails.
    let target = dir.path().join("occupied");
    fs::create_dir(&target).unwrap();
    fs::write(target.join("keep"), b"x").unwrap();
    let err = write_atomic(&target, b"data").unwrap_err();
    assert!(matches!(err, ReportError::Io { .. }), "{err}");
    assert_eq!(names(dir.path()), ["occupied"]);
    assert!(err.to_string().contains("occupied"));
}

#[test]
fn write_atomic_relative_file_name_without_parent() {
    // A bare file name means the current directory; use a unique name and clean up.
    let name = format!("xbar-report-test-{}.tmpout", std::process::id());
    write_atomic(Path::new(&name), b"ok").unwrap();
    assert_eq!(fs::read(&name).unwrap(), b"ok");
    fs::remove_file(&name).unwrap();
}

#[derive(serde::Serialize)]
struct Row {
    zeta: u32,
    alpha: String,
    mid: f64,
    flag: bool,
}

#[test]
fn csv_header_follows_field_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rows.csv");
    let rows = vec![
        Row {
            zeta: 1,
            alpha: "a, with comma".into(),
            mid: 0.5,
            flag: true,
        },
        Row {
            zeta: 2,
            alpha: "b".into(),
            mid: -1e-6,
            flag: false,
        },
    ];
    write_csv_atomic(&path, &rows).unwrap();
    let text = fs::read_to_string(&path).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("zeta,alpha,mid,flag"));
    assert_eq!(lines.next(), Some("1,\"a, with comma\",0.5,true"));
    assert_eq!(lines.next(), Some("2,b,-1e-6,false"));
    assert_eq!(lines.next(), None);

    write_csv_atomic::<Row>(&path, &[]).unwrap();
    assert_eq!(fs::read_to_string(&path).unwrap(), "");
    assert_eq!(names(dir.path()), ["rows.csv"]);
}

#[test]
fn csv_error_is_reported() {
    #[derive(serde::Serialize)]
    struct Nested {
        inner: Vec<Vec<u8>>,
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.csv");
    let err = write_csv_atomic(
        &path,
        &[Nested {
            inner: vec![vec![1]],
        }],
    )
    .unwrap_err();
    assert!(matches!(err, ReportError::Csv { .. }), "{err}");
    assert!(!path.exists());
}

#[test]
fn json_is_pretty_with_trailing_newline() {
    #[derive(serde::Serialize)]
    struct Summary {
        name: &'static str,
        values: Vec<f64>,
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.json");
    write_json_atomic(
        &path,
        &Summary {
            name: "run",
            values: vec![1.0, 2.5],
        },
    )
    .unwrap();
    let text = fs::read_to_string(&path).unwrap();
    assert_eq!(
        text,
        "{\n  \"name\": \"run\",\n  \"values\": [\n    1.0,\n    2.5\n  ]\n}\n"
    );

    let mut bad = std::collections::HashMap::new();
    bad.insert(vec![1u8], 1);
    let err = write_json_atomic(&path, &bad).unwrap_err();
    assert!(matches!(err, ReportError::Json { .. }), "{err}");
    assert_eq!(fs::read_to_string(&path).unwrap(), text, "old content kept");
}

#[test]
fn md_table_renders_and_escapes() {
    let mut t = MdTable::new(&["name", "value"]);
    t.row(vec!["a|b".into(), "1".into()])
        .row(vec!["line\nbreak".into(), "22".into()])
        .row(vec!["short".into()])
        .row(vec!["x".into(), "y".into(), "extra".into()]);
    let md = t.render();
    let expected = "\
| name          | value |       |
| ------------- | ----- | ----- |
| a\\|b          | 1     |       |
| line<br>break | 22    |       |
| short         |       |       |
| x             | y     | extra |
";
    assert_eq!(md, expected);
    for l in md.lines() {
        // Unescaped pipes delimit exactly 3 columns.
        assert_eq!(l.replace("\\|", "").matches('|').count(), 4, "{l}");
    }
    assert_eq!(format!("{t}"), md);
    assert_eq!(MdTable::new(&[]).render(), "|     |\n| --- |\n");
}
