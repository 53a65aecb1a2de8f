//! `durable export` and `durable import`: everything a database holds as a file of JSON lines,
//! to move it to another database of either backend (`durable export --db A | durable import
//! --db B -`).
//!
//! The file: a header line (`{"format":"durable-export","version":1,"columns":{...}}`, the
//! columns of every kind of record), one line per record ([`Record::to_json_line`]), and an end line
//! (`{"end":{"counts":{...},"sha256":"..."}}`) with how many records of each kind came before
//! it and the SHA-256 of every byte before it. Export streams one snapshot of the source
//! ([`Store::export`]). Import streams the records into the target's one transaction
//! ([`Store::import`]) and sends the end mark only once the end line's digest and counts match
//! what was read, so a file cut short or altered (stdin included) writes nothing, and nothing
//! is read twice or spooled. File reading and writing run on a blocking thread; the records
//! cross to the store through a bounded channel, so memory stays flat whatever the size.

use super::progress::Progress;
use anyhow::{Context as _, bail};
use clap::Args;
use durable_host::store::Store;
use durable_host::store::transfer::{Counts, ImportItem, Kind, Record};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use tokio::sync::mpsc;

/// The header's `format`.
const FORMAT: &str = "durable-export";
/// The header's `version`: the layout of the file and of its records.
const VERSION: u64 = 1;
/// Records in flight between the store and the file.
const CHANNEL: usize = 256;

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The file to write (replaced if it exists); stdout if left out or `-`.
    #[arg(short, long)]
    output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The file `durable export` wrote; `-` reads stdin.
    file: PathBuf,
}

/// The columns of every kind of record, as the header lists them.
fn columns() -> Value {
    let kinds = Kind::ALL.iter().map(|kind| {
        let names: Vec<&str> = kind.columns().iter().map(|(name, _)| *name).collect();
        (kind.name().to_owned(), json!(names))
    });
    Value::Object(kinds.collect())
}

fn is_stdio(path: &Path) -> bool {
    path == Path::new("-")
}

/// Writes lines and keeps the digest of what it wrote.
struct Lines<W: Write> {
    out: W,
    digest: Sha256,
    bytes: u64,
}

impl<W: Write> Lines<W> {
    fn write(&mut self, line: &str) -> std::io::Result<()> {
        let line = [line.as_bytes(), b"\n"].concat();
        self.digest.update(&line);
        self.bytes += line.len() as u64;
        self.out.write_all(&line)
    }
}

fn hex(digest: Sha256) -> String {
    digest
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `durable export`.
pub async fn export(store: Arc<dyn Store>, args: ExportArgs) -> anyhow::Result<ExitCode> {
    let file = args.output.filter(|path| !is_stdio(path));
    let out: Box<dyn Write + Send> = match &file {
        Some(path) => Box::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot create {}", path.display()))?,
        ),
        None => Box::new(std::io::stdout()),
    };
    let (sink, records) = mpsc::channel(CHANNEL);
    let exporting = tokio::spawn(async move { store.export(sink).await });
    let writing = tokio::task::spawn_blocking(move || write_records(out, records));
    let written = writing.await.context("the export's writer stopped")?;
    // A failed write closed the channel, which stops the export: the write's error says why.
    // The end line is written only once the export has sent everything, so a file without
    // one is never taken for a whole export.
    let exported = exporting.await.context("the export stopped")?;
    let result = written.and_then(|(mut lines, written)| {
        let exported = exported?;
        if exported != written {
            bail!("the database sent {exported}, but {written} were written");
        }
        let end = json!({"end": {"counts": written, "sha256": hex(lines.digest.clone())}});
        lines.write(&end.to_string())?;
        lines.out.flush()?;
        Ok(written)
    });
    let counts = match result.and_then(|counts| sync(file.as_deref()).map(|()| counts)) {
        Ok(counts) => counts,
        Err(e) => {
            if let Some(path) = &file {
                let _ = std::fs::remove_file(path);
            }
            return Err(e.context("cannot export"));
        }
    };
    let to = file.map_or("stdout".to_owned(), |path| path.display().to_string());
    eprintln!("exported {} records to {to} ({counts})", counts.total());
    Ok(ExitCode::SUCCESS)
}

/// Makes a written file durable before saying it was written.
fn sync(file: Option<&Path>) -> anyhow::Result<()> {
    if let Some(path) = file {
        std::fs::File::open(path)?.sync_all()?;
    }
    Ok(())
}

type Output = BufWriter<Box<dyn Write + Send>>;

/// Writes the header and every record `records` brings to `out`; returns the writer (for the
/// end line) and the counts it wrote.
fn write_records(
    out: Box<dyn Write + Send>,
    mut records: mpsc::Receiver<Record>,
) -> anyhow::Result<(Lines<Output>, Counts)> {
    let mut lines = Lines {
        out: BufWriter::new(out),
        digest: Sha256::new(),
        bytes: 0,
    };
    // `format` first, so the first bytes of the file say what it is.
    let header = format!(
        r#"{{"format":"{FORMAT}","version":{VERSION},"columns":{}}}"#,
        columns()
    );
    let mut progress = Progress::new("exporting", None);
    let mut counts = Counts::default();
    let mut write = || -> std::io::Result<()> {
        lines.write(&header)?;
        while let Some(record) = records.blocking_recv() {
            counts.add(record.kind);
            lines.write(&record.to_json_line())?;
            progress.update(counts.total(), lines.bytes);
        }
        Ok(())
    };
    let written = write();
    progress.finish();
    written?;
    Ok((lines, counts))
}

/// `durable import`.
pub async fn import(store: Arc<dyn Store>, args: ImportArgs) -> anyhow::Result<ExitCode> {
    let name = if is_stdio(&args.file) {
        "stdin".to_owned()
    } else {
        args.file.display().to_string()
    };
    let (input, size): (Box<dyn BufRead + Send>, Option<u64>) = if is_stdio(&args.file) {
        (Box::new(BufReader::new(std::io::stdin())), None)
    } else {
        let file =
            std::fs::File::open(&args.file).with_context(|| format!("cannot open {name}"))?;
        let size = file.metadata().ok().map(|m| m.len());
        (Box::new(BufReader::new(file)), size)
    };
    let (sink, source) = mpsc::channel(CHANNEL);
    let importing = tokio::spawn(async move { store.import(source).await });
    let reading = tokio::task::spawn_blocking(move || read_file(input, size, sink));
    let read = reading.await.context("the import's reader stopped")?;
    let imported = importing.await.context("the import stopped")?;
    match (read, imported) {
        (Ok(counts), Ok(found)) => {
            eprintln!("imported {} records from {name} ({found})", counts.total());
            Ok(ExitCode::SUCCESS)
        }
        // The store stopped taking records: its error says why.
        (Err(Refused::Closed), Err(e)) => Err(e.into()),
        (Err(Refused::Closed), Ok(_)) => bail!("the database stopped taking records"),
        // The store rolled back when the records stopped short of the end mark.
        (Err(Refused::File(e)), _) => Err(e.context(format!("{name}: nothing was imported"))),
        (Ok(_), Err(e)) => Err(e.into()),
    }
}

/// Why reading an export stopped.
enum Refused {
    /// The file is not a whole, unaltered export.
    File(anyhow::Error),
    /// The store stopped taking records.
    Closed,
}

impl From<anyhow::Error> for Refused {
    fn from(e: anyhow::Error) -> Refused {
        Refused::File(e)
    }
}

impl From<std::io::Error> for Refused {
    fn from(e: std::io::Error) -> Refused {
        Refused::File(e.into())
    }
}

/// Reads an export from `input` and sends its records to `sink`, then the end mark once the
/// end line checks out; returns the counts read.
fn read_file(
    mut input: Box<dyn BufRead + Send>,
    size: Option<u64>,
    sink: mpsc::Sender<ImportItem>,
) -> Result<Counts, Refused> {
    let mut progress = Progress::new("importing", size);
    let result = read_records(&mut input, &sink, &mut progress);
    progress.finish();
    result
}

fn read_records(
    input: &mut dyn BufRead,
    sink: &mpsc::Sender<ImportItem>,
    progress: &mut Progress,
) -> Result<Counts, Refused> {
    let mut digest = Sha256::new();
    let mut counts = Counts::default();
    let mut line = Vec::new();
    let mut bytes = 0u64;
    let mut number = 0;
    loop {
        number += 1;
        line.clear();
        let n = input.read_until(b'\n', &mut line)?;
        bytes += n as u64;
        if n == 0 || !line.ends_with(b"\n") {
            let last = if n == 0 { number - 1 } else { number };
            return Err(Refused::File(anyhow::anyhow!(
                "the export is cut short: it ends at line {last} without its end line"
            )));
        }
        let value: Value =
            serde_json::from_slice(&line).with_context(|| format!("line {number} is not JSON"))?;
        if number == 1 {
            check_header(&value)?;
        } else if let Some(end) = value.get("end") {
            check_end(end, &hex(digest), &counts)?;
            if input.read_until(b'\n', &mut line)? > 0 {
                bail_file(format!("there is more after the end line (line {number})"))?;
            }
            sink.blocking_send(ImportItem::End(counts))
                .map_err(|_| Refused::Closed)?;
            return Ok(counts);
        } else {
            let record =
                Record::from_json(value).map_err(|e| anyhow::anyhow!("line {number}: {e}"))?;
            counts.add(record.kind);
            sink.blocking_send(ImportItem::Record(record))
                .map_err(|_| Refused::Closed)?;
            progress.update(counts.total(), bytes);
        }
        digest.update(&line);
    }
}

fn bail_file(message: String) -> Result<(), Refused> {
    Err(Refused::File(anyhow::anyhow!(message)))
}

/// Checks the first line is the header of an export this build reads.
fn check_header(header: &Value) -> Result<(), Refused> {
    if header["format"] != FORMAT {
        return bail_file(
            "this is not a `durable export` file (its first line is not its header)".into(),
        );
    }
    if header["version"] != VERSION {
        return bail_file(format!(
            "the export has version {}, and this build of durable reads version {VERSION}",
            header["version"]
        ));
    }
    if header["columns"] != columns() {
        return bail_file(
            "the export's columns are not the ones this build of durable writes; import it \
             with the build that exported it"
                .into(),
        );
    }
    Ok(())
}

/// Checks the end line against what was read: its digest (`digest`, of every line before it)
/// and its counts.
fn check_end(end: &Value, digest: &str, counts: &Counts) -> Result<(), Refused> {
    let expected: Counts = serde_json::from_value(end["counts"].clone())
        .context("the end line's counts are not readable")?;
    if end["sha256"] != digest {
        return bail_file(format!(
            "the export was altered or damaged: its SHA-256 is {digest}, and its end line says {}",
            end["sha256"]
        ));
    }
    if expected != *counts {
        return bail_file(format!(
            "the export's end line counts {expected}, and it holds {counts}"
        ));
    }
    Ok(())
}
