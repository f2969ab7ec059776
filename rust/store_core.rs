//! The files of a `FileStore`: snapshot, journal, lock and temp files.
//!
//! This is the native twin of `millpond._pure.file_store`, the reference. It
//! reads and writes the same files byte for byte and takes the same locks
//! around the same steps, so that processes of either backend can share one
//! store. The files of a store at `path`:
//!
//! - `path`: the snapshot, rewritten whole by compaction (temp file, fsync,
//!   rename, fsync of the folder).
//! - `path + ".journal"`: one JSON line per upsert, replayed over the
//!   snapshot (last write wins) and emptied by compaction. The file grows in
//!   chunks of [`JOURNAL_CHUNK`] bytes, and spaces fill the rest of the last
//!   chunk, so that most appends overwrite padding instead of growing the
//!   file: `fdatasync` is faster when the size does not change.
//! - `path + ".lock"`: held with `flock`, exclusive to write and shared to
//!   read. It is never deleted.
//! - `path + ".tmp-<pid>-<16 hex digits>"`: a snapshot being written. One
//!   left by a killed writer is removed when a store opens.

use std::collections::{HashMap, HashSet};
use std::ffi::{OsStr, OsString};
use std::fs::{self, File, OpenOptions};
use std::hash::{BuildHasher, Hasher};
use std::io::{self, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::sync::Arc;

use rustix::fs::{Access, AtFlags, FlockOperation, Mode, OFlags};
use rustix::io::Errno;

use crate::store_format::{
    decode_journal_line, decode_snapshot, encode_snapshot, salvage_snapshot, Record, ENDED_AT,
    PIPELINE_NAME, STARTED_AT, STATUS,
};

const READ_CHUNK: usize = 1 << 16;
const FILE_MODE: u32 = 0o666;

/// The journal's size after an append that does not fit in its padding is
/// the next multiple of this many bytes.
pub const JOURNAL_CHUNK: u64 = 1 << 16;

/// The byte that fills the journal after its last line.
const PADDING: u8 = b' ';

/// The device and inode of a file: a changed value at a path means the file
/// there was replaced.
type FileId = (u64, u64);

/// The runs of a store by id. Records are shared, so that a read can hand
/// them out without copying them while the store lock is held.
pub type Runs = HashMap<String, Arc<Record>>;

// --- Errors -----------------------------------------------------------------

/// A failed store operation, turned into the pure backend's Python exception
/// by the binding.
#[derive(Debug)]
pub enum StoreError {
    /// An OS error of a call on `filename` (and `filename2` for a rename or
    /// link), as Python's `OSError(errno, strerror, filename, None, filename2)`.
    Os {
        error: io::Error,
        filename: Option<OsString>,
        filename2: Option<OsString>,
    },
    /// An OS error with the store's own text in place of the system's.
    Folder {
        errno: Errno,
        strerror: &'static str,
        filename: OsString,
    },
    /// A damaged file: `StoreCorruptError(path, line, reason, store_path)`.
    Corrupt {
        path: OsString,
        line: Option<usize>,
        reason: String,
        store_path: OsString,
    },
    /// A method other than `close` was called on a closed store.
    Closed { path: OsString },
    /// Waiting for the lock was interrupted by a signal, before any change.
    Interrupted,
    /// A `TypeError` with this message.
    Type(String),
    /// A `ValueError` with this message.
    Value(String),
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// Return a function that wraps an I/O error of a call on `path`.
fn on(path: &OsStr) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |error| StoreError::Os {
        error,
        filename: Some(path.to_owned()),
        filename2: None,
    }
}

/// Wrap an I/O error of a call that names no file (on a descriptor).
fn on_descriptor(error: io::Error) -> StoreError {
    StoreError::Os {
        error,
        filename: None,
        filename2: None,
    }
}

/// Wrap an I/O error of a call with two paths (rename, link).
fn on_pair(error: io::Error, source: &OsStr, target: &OsStr) -> StoreError {
    StoreError::Os {
        error,
        filename: Some(source.to_owned()),
        filename2: Some(target.to_owned()),
    }
}

fn has_errno(error: &io::Error, errnos: &[Errno]) -> bool {
    error
        .raw_os_error()
        .is_some_and(|code| errnos.iter().any(|errno| errno.raw_os_error() == code))
}

// --- Paths ------------------------------------------------------------------

/// Return `(parent, name)` of `path` as Python's `pathlib.PurePosixPath`
/// computes them: empty and `.` segments dropped, `.` for no parent.
///
/// Paths are bytes, as on Linux: a file name need not be UTF-8.
fn split_path(path: &OsStr) -> (OsString, OsString) {
    // pathlib keeps exactly two leading slashes and folds three or more into one.
    let bytes = path.as_bytes();
    let root: &[u8] = if bytes.starts_with(b"//") && !bytes.starts_with(b"///") {
        b"//"
    } else if bytes.starts_with(b"/") {
        b"/"
    } else {
        b""
    };
    let parts: Vec<&[u8]> = bytes
        .split(|&byte| byte == b'/')
        .filter(|part| !part.is_empty() && *part != b".")
        .collect();

    // A path without parts is its own parent and has no name.
    let Some((name, parents)) = parts.split_last() else {
        let itself: &[u8] = if root.is_empty() { b"." } else { root };
        return (OsString::from_vec(itself.to_vec()), OsString::new());
    };
    let mut parent = root.to_vec();
    parent.extend_from_slice(&parents.join(&b'/'));
    if parent.is_empty() {
        parent.push(b'.');
    }
    (
        OsString::from_vec(parent),
        OsString::from_vec(name.to_vec()),
    )
}

/// Join a folder from [`split_path`] and a name as pathlib does.
fn join(folder: &OsStr, name: &OsStr) -> OsString {
    if folder == "." {
        return name.to_owned();
    }
    let mut joined = folder.to_owned();
    if !folder.as_bytes().ends_with(b"/") {
        joined.push("/");
    }
    joined.push(name);
    joined
}

/// Return `path` followed by `suffix`, such as `state.json.journal`.
fn with_suffix(path: &OsStr, suffix: &str) -> OsString {
    let mut joined = path.to_owned();
    joined.push(suffix);
    joined
}

/// Return the folder of `path`, or the error that explains why no store can be
/// read there.
fn checked_folder(path: &OsStr) -> Result<OsString> {
    let (folder, _) = split_path(path);
    let folder_error = |errno, strerror| StoreError::Folder {
        errno,
        strerror,
        filename: folder.clone(),
    };

    // The folder exists and is a folder.
    let is_folder = match fs::metadata(&folder) {
        Ok(metadata) => metadata.is_dir(),
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            return Err(folder_error(
                Errno::NOENT,
                "store folder does not exist, create it first",
            ));
        }
        Err(error) if has_errno(&error, &[Errno::NOTDIR]) => false,
        Err(error) if has_errno(&error, &[Errno::ACCESS, Errno::PERM]) => {
            return Err(folder_error(
                Errno::ACCESS,
                "store folder is not accessible",
            ));
        }
        Err(error) => return Err(on(&folder)(error)),
    };
    if !is_folder {
        return Err(folder_error(Errno::NOTDIR, "store folder is not a folder"));
    }

    // The path is not a folder.
    let path_is_folder = match fs::metadata(path) {
        Ok(metadata) => metadata.is_dir(),
        // Python's `Path.is_dir` treats these errors as "no".
        Err(error)
            if has_errno(
                &error,
                &[Errno::NOENT, Errno::NOTDIR, Errno::BADF, Errno::LOOP],
            ) =>
        {
            false
        }
        Err(error) => return Err(on(path)(error)),
    };
    if path_is_folder {
        return Err(StoreError::Folder {
            errno: Errno::ISDIR,
            strerror: "store path is a folder, expected a file path",
            filename: path.to_owned(),
        });
    }
    Ok(folder)
}

fn is_writable(folder: &OsStr) -> bool {
    rustix::fs::access(folder, Access::WRITE_OK | Access::EXEC_OK).is_ok()
}

fn not_writable(folder: &OsStr) -> StoreError {
    StoreError::Folder {
        errno: Errno::ACCESS,
        strerror: "store folder is not writable",
        filename: folder.to_owned(),
    }
}

/// Check the folder of `path` and open the store's lock file, creating it
/// when `writable`. Returns `None` when read-only and the file is missing.
fn open_lock(path: &OsStr, writable: bool) -> Result<Option<File>> {
    checked_folder(path)?;
    if writable {
        return create_lock(path).map(Some);
    }
    let lock_path = with_suffix(path, ".lock");
    match File::open(&lock_path) {
        Ok(file) => Ok(Some(file)),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(on(&lock_path)(error)),
    }
}

/// Open or create the store's lock file, in a folder already checked.
fn create_lock(path: &OsStr) -> Result<File> {
    let lock_path = with_suffix(path, ".lock");
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .mode(FILE_MODE)
        .open(&lock_path)
        .map_err(on(&lock_path))
}

/// Take or release `flock` on the lock file.
///
/// Waiting for a lock ends with [`StoreError::Interrupted`] when a signal
/// arrives, so the caller can run Python's signal handlers and retry.
fn flock(lock: &File, operation: FlockOperation) -> Result<()> {
    loop {
        match rustix::fs::flock(lock, operation) {
            Ok(()) => return Ok(()),
            Err(Errno::INTR) if operation == FlockOperation::Unlock => {}
            Err(Errno::INTR) => return Err(StoreError::Interrupted),
            Err(errno) => return Err(on_descriptor(errno.into())),
        }
    }
}

/// Return whether `name` is a temp snapshot name of the store file `base`:
/// `<base>.tmp-<digits>-<16 lower-case hex digits>`.
fn is_temp_name(name: &[u8], base: &[u8]) -> bool {
    let Some(rest) = name
        .strip_prefix(base)
        .and_then(|rest| rest.strip_prefix(b".tmp-"))
    else {
        return false;
    };
    let Some(split) = rest.len().checked_sub(17) else {
        return false;
    };
    let (pid, random) = rest.split_at(split);
    !pid.is_empty()
        && pid.iter().all(u8::is_ascii_digit)
        && random[0] == b'-'
        && random[1..]
            .iter()
            .all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(byte))
}

/// Remove temp snapshots of killed writers, under the exclusive lock.
///
/// A live writer holds the exclusive lock for as long as its temp file
/// exists, so every temp file seen here is stale.
fn remove_stale_temp_files(path: &OsStr) -> Result<()> {
    let (folder, base) = split_path(path);
    for entry in fs::read_dir(&folder).map_err(on(&folder))? {
        let entry = entry.map_err(on(&folder))?;
        let name = entry.file_name();
        if !is_temp_name(name.as_bytes(), base.as_bytes()) {
            continue;
        }
        let entry_path = join(&folder, &name);
        match fs::remove_file(entry.path()) {
            Err(error) if error.kind() != io::ErrorKind::NotFound => {
                return Err(on(&entry_path)(error));
            }
            _ => {}
        }
    }
    Ok(())
}

// --- Files ------------------------------------------------------------------

/// The identity and size of a file.
#[derive(Clone, Copy, Debug)]
struct FileStat {
    id: FileId,
    size: u64,
}

impl From<fs::Metadata> for FileStat {
    fn from(metadata: fs::Metadata) -> FileStat {
        FileStat {
            id: (metadata.dev(), metadata.ino()),
            size: metadata.len(),
        }
    }
}

/// Return the identity and size of the file at `path`, without asking for
/// its timestamps.
///
/// Since Linux 6.13, reading a file's change time makes the next write store
/// a fine-grained one, so every write after such a read dirties the inode
/// (multigrain timestamps, Documentation/filesystems/multigrain-ts.rst).
/// On ext4 under Linux 6.18 that made `fdatasync` after each journal write
/// about a third slower, so on Linux `statx` requests the inode number and
/// size only. The pure core has no `statx` and pays that cost.
fn stat_path(path: &OsStr) -> io::Result<FileStat> {
    #[cfg(target_os = "linux")]
    match rustix::fs::statx(rustix::fs::CWD, path, AtFlags::empty(), STAT_MASK) {
        Ok(stat) => return Ok(from_statx(&stat)),
        Err(Errno::NOSYS) => {}
        Err(errno) => return Err(errno.into()),
    }
    fs::metadata(path).map(FileStat::from)
}

/// Return the identity and size of an open file, as [`stat_path`] does.
fn stat_file(file: &File) -> Result<FileStat> {
    #[cfg(target_os = "linux")]
    match rustix::fs::statx(file, c"", AtFlags::EMPTY_PATH, STAT_MASK) {
        Ok(stat) => return Ok(from_statx(&stat)),
        Err(Errno::NOSYS) => {}
        Err(errno) => return Err(on_descriptor(errno.into())),
    }
    file.metadata().map(FileStat::from).map_err(on_descriptor)
}

#[cfg(target_os = "linux")]
const STAT_MASK: rustix::fs::StatxFlags =
    rustix::fs::StatxFlags::INO.union(rustix::fs::StatxFlags::SIZE);

#[cfg(target_os = "linux")]
fn from_statx(stat: &rustix::fs::Statx) -> FileStat {
    FileStat {
        id: (
            rustix::fs::makedev(stat.stx_dev_major, stat.stx_dev_minor),
            stat.stx_ino,
        ),
        size: stat.stx_size,
    }
}

fn file_id(path: &OsStr) -> Result<Option<FileId>> {
    match stat_path(path) {
        Ok(stat) => Ok(Some(stat.id)),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(on(path)(error)),
    }
}

fn open_file_id(file: Option<&File>) -> Result<Option<FileId>> {
    file.map(|file| stat_file(file).map(|stat| stat.id))
        .transpose()
}

/// Return the length of the journal's data: the offset after its last
/// newline, or 0 when the journal has none or does not exist.
fn journal_data_length(path: &OsStr) -> Result<u64> {
    let Some(file) = open_existing(path)? else {
        return Ok(0);
    };
    let size = stat_file(&file)?.size;
    Ok(last_line_end(&file, size)?.0)
}

/// Open `path` for reading, or return `None` when it does not exist.
fn open_existing(path: &OsStr) -> Result<Option<File>> {
    match open_no_atime(OpenOptions::new().read(true), path) {
        Ok(file) => Ok(Some(file)),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(on(path)(error)),
    }
}

/// Open `path` with `O_NOATIME` where the system allows it.
///
/// The journal is read before every append, and each read would otherwise
/// write the file's access time, which costs more than the read. Only the
/// file's owner may set the flag, so others open the file without it.
fn open_no_atime(options: &OpenOptions, path: &OsStr) -> io::Result<File> {
    #[cfg(target_os = "linux")]
    {
        let mut with_flag = options.clone();
        // O_NOATIME is 0o1000000 on Linux, so it fits the `int` of open(2).
        with_flag.custom_flags(i32::try_from(OFlags::NOATIME.bits()).expect("fits an int"));
        match with_flag.open(path) {
            Err(error) if has_errno(&error, &[Errno::PERM]) => {}
            result => return result,
        }
    }
    options.open(path)
}

/// Read from `offset` to the end of the file.
fn read_from(file: &File, mut offset: u64) -> Result<Vec<u8>> {
    let size = stat_file(file)?.size;
    let expected = usize::try_from(size.saturating_sub(offset)).unwrap_or(0);
    let mut data = Vec::with_capacity(expected);
    let mut chunk = vec![0; READ_CHUNK.max(expected)];
    loop {
        match file.read_at(&mut chunk, offset) {
            Ok(0) => return Ok(data),
            Ok(read) => {
                data.extend_from_slice(&chunk[..read]);
                offset += read as u64;
            }
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(on_descriptor(error)),
        }
    }
}

/// Read the whole file at `path`, or return `None` when it does not exist.
fn read_file(path: &OsStr) -> Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(data) => Ok(Some(data)),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(on(path)(error)),
    }
}

/// Flush a file's data and size to stable storage: `fdatasync` on Linux,
/// `F_FULLFSYNC` on macOS and `fsync` elsewhere, as Rust's `sync_data` does.
fn sync_data(file: &File) -> Result<()> {
    file.sync_data().map_err(on_descriptor)
}

/// Flush a folder's entries, so that a rename or a new file survives a power loss.
fn sync_folder(folder: &OsStr) -> Result<()> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let fd =
        rustix::fs::open(folder, flags, Mode::empty()).map_err(|errno| on(folder)(errno.into()))?;
    rustix::fs::fsync(&fd).map_err(|errno| on_descriptor(errno.into()))
}

/// Return where the journal's data ends: the offset after its last newline,
/// or 0 without one, and the byte at that offset when the file goes on.
///
/// The rest of the file is the final line, which has no newline: padding,
/// a torn write, or a torn write followed by padding. Only the data and the
/// bytes from the end are read, so the cost does not grow with the journal.
fn last_line_end(file: &File, size: u64) -> Result<(u64, Option<u8>)> {
    let mut end = size;
    let mut chunk = vec![0; READ_CHUNK];
    let mut next = None;
    while end > 0 {
        let start = end.saturating_sub(READ_CHUNK as u64);
        // The span is at most READ_CHUNK bytes long.
        let span = &mut chunk[..usize::try_from(end - start).expect("at most READ_CHUNK")];
        file.read_exact_at(span, start).map_err(on_descriptor)?;
        if let Some(newline) = memchr::memrchr(b'\n', span) {
            // After the last byte read, `next` is the first byte of the span
            // read before, or `None` at the end of the file.
            if let Some(&byte) = span.get(newline + 1) {
                next = Some(byte);
            }
            return Ok((start + newline as u64 + 1, next));
        }
        next = Some(span[0]);
        end = start;
    }
    Ok((0, next))
}

/// Return whether the journal's data still ends at `end`: a line starts at
/// `end`, and the file ends there or has padding next.
///
/// Every complete line that a writer appends starts with `{`, so a line that
/// starts with padding is the final line. Reading two bytes checks this,
/// where finding the end from scratch reads the padding.
fn checked_data_end(file: &File, size: u64, end: u64) -> Result<bool> {
    if end > size {
        return Ok(false);
    }
    let start = end.saturating_sub(1);
    let mut window = [0_u8; 2];
    // At most two bytes: the one before `end` and the one at it.
    let length = usize::try_from((end + 1).min(size) - start).expect("at most 2");
    let window = &mut window[..length];
    file.read_exact_at(window, start).map_err(on_descriptor)?;
    let (before, at) = if end == 0 {
        (None, window.first())
    } else {
        (window.first(), window.get(1))
    };
    Ok(before.is_none_or(|&byte| byte == b'\n') && at.is_none_or(|&byte| byte == PADDING))
}

/// Write all of `data` at `offset`.
fn write_all_at(file: &File, data: &[u8], offset: u64) -> Result<()> {
    file.write_all_at(data, offset).map_err(on_descriptor)
}

/// Return a temp snapshot name: `<path>.tmp-<pid>-<16 hex digits>`.
fn temp_path(path: &OsStr) -> OsString {
    // RandomState is seeded randomly per process; the counter separates
    // calls. The names need to be unlikely to clash, not secret: the file
    // is created with O_EXCL.
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_nanos()),
    );
    let suffix = format!(".tmp-{}-{:016x}", std::process::id(), hasher.finish());
    with_suffix(path, &suffix)
}

/// Create a new temp snapshot with `data`, synced; the caller renames it.
fn write_temp(temp: &OsStr, data: &[u8], read: bool) -> Result<File> {
    let mut file = OpenOptions::new()
        .read(read)
        .write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .open(temp)
        .map_err(on(temp))?;
    file.write_all(data).map_err(on_descriptor)?;
    sync_data(&file)?;
    Ok(file)
}

/// Remove a temp file after a failure; only errors other than "not found" count.
fn remove_temp(temp: &OsStr) -> Result<()> {
    match fs::remove_file(temp) {
        Err(error) if error.kind() != io::ErrorKind::NotFound => Err(on(temp)(error)),
        _ => Ok(()),
    }
}

/// Replace the snapshot atomically with `data` and return the new file, open.
///
/// The temp file is synced before the rename and the folder after it, even
/// when the store is not durable: otherwise a power loss after the journal
/// is emptied could lose every run, not only the latest ones.
fn write_snapshot(path: &OsStr, folder: &OsStr, data: &[u8]) -> Result<File> {
    let temp = temp_path(path);
    let written = write_temp(&temp, data, true).and_then(|file| {
        fs::rename(&temp, path).map_err(|error| on_pair(error, &temp, path))?;
        Ok(file)
    });
    let file = match written {
        Ok(file) => file,
        Err(error) => {
            remove_temp(&temp)?;
            return Err(error);
        }
    };
    sync_folder(folder)?;
    Ok(file)
}

fn truncate_journal(journal_path: &OsStr) -> Result<()> {
    let file = match OpenOptions::new().write(true).open(journal_path) {
        Ok(file) => file,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(error) => return Err(on(journal_path)(error)),
    };
    if stat_file(&file)?.size > 0 {
        file.set_len(0).map_err(on_descriptor)?;
        sync_data(&file)?;
    }
    Ok(())
}

/// Return the time `max_age_us` before now in the record format, clamped at
/// year 1 as the pure backend does on overflow.
fn cutoff_time(max_age_us: i64) -> String {
    let now = jiff::Timestamp::now().as_microsecond();
    let cutoff = i128::from(now) - i128::from(max_age_us);
    let Some(cutoff) = i64::try_from(cutoff)
        .ok()
        .filter(|&cutoff| cutoff >= crate::schedule::MIN_US)
    else {
        return "0001-01-01T00:00:00.000000Z".to_owned();
    };
    // The range was checked above, and cutoffs lie before now.
    let time = jiff::Timestamp::from_microsecond(cutoff).expect("cutoff in range");
    time.strftime("%Y-%m-%dT%H:%M:%S.%6fZ").to_string()
}

// --- The core ----------------------------------------------------------------

/// Retention settings: see [`Core::open`].
#[derive(Clone, Copy, Debug, Default)]
pub struct Retention {
    pub keep_last: Option<u64>,
    pub max_age_us: Option<i64>,
}

/// The files of one store and its runs as last read.
///
/// `upsert` appends without reading the store, so its cost does not depend
/// on the number of stored runs. Reads load the files lazily and then replay
/// only the journal bytes appended since the last read.
#[derive(Debug)]
pub struct Core {
    path: OsString,
    journal_path: OsString,
    folder: OsString,
    durable: bool,
    // False in a folder that this process cannot write: then only reads work.
    writable: bool,
    retention: Retention,
    pid: u32,
    closed: bool,
    lock: Option<File>,
    journal: Option<File>,
    journal_id: Option<FileId>,
    // The end of this core's last append to `journal`, checked before reuse.
    journal_end: Option<u64>,

    // The state as last read: the runs, the files they came from (kept open
    // so that their inode numbers cannot be reused), and how far into the
    // journal the runs go.
    runs: Option<Runs>,
    snapshot: Option<File>,
    journal_read: Option<File>,
    journal_offset: u64,
    journal_lines: usize,
}

impl Core {
    /// Open the store at `path`, creating its lock file, and remove stale
    /// temp files. Nothing is read yet.
    ///
    /// # Errors
    ///
    /// Returns the folder errors of the pure backend when the folder is
    /// missing, not a folder or not writable, or `path` is a folder.
    pub fn open(path: &OsStr, durable: bool, retention: Retention) -> Result<Core> {
        let folder = checked_folder(path)?;
        let writable = is_writable(&folder);
        let lock = open_lock(path, writable)?;
        let mut core = Core {
            path: path.to_owned(),
            journal_path: with_suffix(path, ".journal"),
            folder,
            durable,
            writable,
            retention,
            pid: std::process::id(),
            closed: false,
            lock,
            journal: None,
            journal_id: None,
            journal_end: None,
            runs: None,
            snapshot: None,
            journal_read: None,
            journal_offset: 0,
            journal_lines: 0,
        };
        if writable {
            core.locked(FlockOperation::LockExclusive, |core| {
                remove_stale_temp_files(&core.path)
            })?;
        }
        Ok(core)
    }

    /// Return the snapshot path the store was opened with.
    #[must_use]
    pub fn path(&self) -> &OsStr {
        &self.path
    }

    /// Fail on a closed store, and reopen the lock file in a forked child.
    ///
    /// # Errors
    ///
    /// Returns [`StoreError::Closed`], or the error of reopening.
    pub fn check_usable(&mut self) -> Result<()> {
        if self.closed {
            return Err(StoreError::Closed {
                path: self.path.clone(),
            });
        }
        if self.pid != std::process::id() {
            // A forked child shares the parent's open lock file, and flock
            // does not separate two holders of one open file. Reopen it.
            self.release();
            self.lock = open_lock(&self.path, self.writable)?;
            self.closed = false;
            self.pid = std::process::id();
        }
        Ok(())
    }

    /// Fail with a `PermissionError` naming the folder on a read-only store.
    fn check_writable(&self) -> Result<()> {
        if self.writable {
            Ok(())
        } else {
            Err(not_writable(&self.folder))
        }
    }

    /// Run `operation` while holding the lock file with `lock_operation`.
    fn locked<T>(
        &mut self,
        lock_operation: FlockOperation,
        operation: impl FnOnce(&mut Core) -> Result<T>,
    ) -> Result<T> {
        if self.closed {
            return Err(StoreError::Closed {
                path: self.path.clone(),
            });
        }
        if self.lock.is_none() {
            // A read-only store without a lock file looks for it again, and
            // reads unlocked while there is none: writers create it first.
            self.lock = open_lock(&self.path, false)?;
        }
        if let Some(lock) = &self.lock {
            flock(lock, lock_operation)?;
        }
        let result = operation(self);

        // An error of the unlock replaces the operation's result, as in a
        // Python `finally` block.
        let unlocked = match &self.lock {
            Some(lock) => flock(lock, FlockOperation::Unlock),
            None => Ok(()),
        };
        unlocked.and(result)
    }

    /// Release every file; the core is closed afterwards.
    pub fn release(&mut self) {
        self.closed = true;
        self.journal = None;
        self.snapshot = None;
        self.journal_read = None;
        self.lock = None;
        self.journal_id = None;
        self.journal_end = None;
        self.runs = None;
    }

    // --- Public operations ---------------------------------------------------

    /// Append one encoded journal line and return the journal's data length
    /// after it: the offset after the line.
    ///
    /// The line goes where the data ends, over padding. When it does not
    /// fit, the file grows to the next multiple of [`JOURNAL_CHUNK`] bytes,
    /// with spaces after the line. A torn final line left by a killed writer
    /// is cut off first. The line is synced when the store is durable. If
    /// the append fails, the journal is put back as it was, and the error
    /// returned.
    ///
    /// # Errors
    ///
    /// Returns the OS error of a failed call.
    pub fn upsert(&mut self, line: &[u8]) -> Result<u64> {
        self.check_writable()?;
        self.locked(FlockOperation::LockExclusive, |core| {
            // Find where the data ends, and cut a torn final line.
            let durable = core.durable;
            let (journal, hint) = core.journal_for_append()?;
            let mut size = stat_file(journal)?.size;
            let end = match hint {
                Some(end) if checked_data_end(journal, size, end)? => end,
                _ => {
                    let (end, next) = last_line_end(journal, size)?;
                    if next.is_some_and(|byte| byte != PADDING) {
                        journal.set_len(end).map_err(on_descriptor)?;
                        size = end;
                    }
                    end
                }
            };

            // Write the line, with padding up to the next chunk when it grows the file.
            let line_end = end + line.len() as u64;
            let written = if line_end <= size {
                write_all_at(journal, line, end)
            } else {
                let grown = line_end.div_ceil(JOURNAL_CHUNK) * JOURNAL_CHUNK;
                let mut data = Vec::with_capacity(usize::try_from(grown - end).unwrap_or(0));
                data.extend_from_slice(line);
                data.resize(data.capacity(), PADDING);
                write_all_at(journal, &data, end)
            };
            let appended = written.and_then(|()| if durable { sync_data(journal) } else { Ok(()) });

            // Leave the journal as it was if that failed.
            if let Err(error) = appended {
                let overwritten = usize::try_from(line_end.min(size) - end).unwrap_or(0);
                let _ = journal.write_all_at(&vec![PADDING; overwritten], end);
                let _ = journal.set_len(size);
                return Err(error);
            }
            core.journal_end = Some(line_end);
            Ok(line_end)
        })
    }

    /// Return the run with id `run_id`, or `None` when it is not stored.
    ///
    /// # Errors
    ///
    /// Returns [`StoreError::Corrupt`] for a damaged store, or an OS error.
    pub fn get(&mut self, run_id: &str) -> Result<Option<Arc<Record>>> {
        self.locked(FlockOperation::LockShared, |core| {
            Ok(core.refresh()?.get(run_id).cloned())
        })
    }

    /// Return every stored run, in no particular order.
    ///
    /// # Errors
    ///
    /// Returns [`StoreError::Corrupt`] for a damaged store, or an OS error.
    pub fn records(&mut self) -> Result<Vec<Arc<Record>>> {
        self.locked(FlockOperation::LockShared, |core| {
            Ok(core.refresh()?.values().cloned().collect())
        })
    }

    /// Rewrite the snapshot with every run, apply retention and empty the
    /// journal. Does nothing and returns false when the journal has fewer
    /// than `min_journal_bytes` bytes.
    ///
    /// # Errors
    ///
    /// Returns [`StoreError::Corrupt`] for a damaged store, or an OS error;
    /// the files are unchanged then.
    pub fn compact(&mut self, min_journal_bytes: i64) -> Result<bool> {
        self.check_writable()?;
        self.locked(FlockOperation::LockExclusive, |core| {
            core.compact_locked(min_journal_bytes)
        })
    }

    /// Compact once if the journal is not empty, then release the files. A
    /// read-only store only releases them.
    ///
    /// The core is closed even when that compaction fails, except when
    /// waiting for the lock is interrupted: then nothing happened yet.
    ///
    /// # Errors
    ///
    /// Returns the error of the compaction.
    pub fn close(&mut self) -> Result<()> {
        if self.closed {
            return Ok(());
        }
        let result = self.check_usable().and_then(|()| {
            if !self.writable {
                return Ok(false);
            }
            self.locked(FlockOperation::LockExclusive, |core| core.compact_locked(1))
        });
        if matches!(result, Err(StoreError::Interrupted)) {
            return Err(StoreError::Interrupted);
        }
        self.release();
        result.map(|_| ())
    }

    // --- Journal and reading ---------------------------------------------------

    /// Return the current journal file, creating it if needed, and where
    /// the last append to it by this core ended.
    ///
    /// Repair may have moved the journal aside, so the open file is checked
    /// against the path each time.
    fn journal_for_append(&mut self) -> Result<(&File, Option<u64>)> {
        let current = file_id(&self.journal_path)?;
        let reusable = self.journal.is_some() && current.is_some() && current == self.journal_id;
        if !reusable {
            self.journal = None;
            self.journal_end = None;
            let mut options = OpenOptions::new();
            options.read(true).write(true).create(true).mode(FILE_MODE);
            let file =
                open_no_atime(&options, &self.journal_path).map_err(on(&self.journal_path))?;
            if current.is_none() && self.durable {
                // The journal was created just now, so make its folder entry durable.
                sync_folder(&self.folder)?;
            }
            self.journal_id = open_file_id(Some(&file))?;
            self.journal = Some(file);
        }
        // Either reusable or opened just above.
        let journal = self.journal.as_ref().expect("journal open");
        Ok((journal, self.journal_end.take()))
    }

    /// Bring the runs up to date with the files and return them, under a
    /// held lock.
    ///
    /// A replaced snapshot (another process compacted or repaired), a
    /// replaced journal or a journal shorter than what was read means a
    /// reload from scratch. Otherwise only the new journal bytes are read.
    fn refresh(&mut self) -> Result<&Runs> {
        if self.runs.is_none() || file_id(&self.path)? != open_file_id(self.snapshot.as_ref())? {
            return self.reload();
        }
        if self.journal_read.is_none() && self.journal_offset == 0 {
            // The journal did not exist at the last read, but it may exist now.
            self.journal_read = open_existing(&self.journal_path)?;
        }
        if file_id(&self.journal_path)? != open_file_id(self.journal_read.as_ref())? {
            return self.reload();
        }

        // Read what was appended since the last read.
        if let Some(journal) = &self.journal_read {
            let size = stat_file(journal)?.size;
            if size < self.journal_offset {
                return self.reload();
            }
            // A line that starts with padding is the final line, without a
            // newline, so nothing was appended.
            let mut first = [0];
            if size > self.journal_offset {
                journal
                    .read_exact_at(&mut first, self.journal_offset)
                    .map_err(on_descriptor)?;
            }
            if size > self.journal_offset && first[0] != PADDING {
                let data = read_from(journal, self.journal_offset)?;
                let (consumed, lines, updates) = self.replay(&data, self.journal_lines)?;
                // Checked at the top: the runs were loaded.
                let runs = self.runs.as_mut().expect("runs loaded");
                for record in updates {
                    runs.insert(record.id().to_owned(), Arc::new(record));
                }
                self.journal_offset += consumed;
                self.journal_lines = lines;
            }
        }
        // Checked at the top: the runs were loaded.
        Ok(self.runs.as_ref().expect("runs loaded"))
    }

    fn reload(&mut self) -> Result<&Runs> {
        // Read both files; on an error the new files close and the old state stays.
        let snapshot = open_existing(&self.path)?;
        let journal = open_existing(&self.journal_path)?;
        let mut runs = match &snapshot {
            Some(file) => decode_snapshot(&read_from(file, 0)?)
                .map_err(|damage| StoreError::Corrupt {
                    path: self.path.clone(),
                    line: damage.line,
                    reason: damage.reason("file"),
                    store_path: self.path.clone(),
                })?
                .into_iter()
                .map(|(run_id, record)| (run_id, Arc::new(record)))
                .collect(),
            None => Runs::new(),
        };
        let (consumed, lines) = match &journal {
            Some(file) => {
                let (consumed, lines, updates) = self.replay(&read_from(file, 0)?, 0)?;
                for record in updates {
                    runs.insert(record.id().to_owned(), Arc::new(record));
                }
                (consumed, lines)
            }
            None => (0, 0),
        };

        // Keep the new files open in place of the old ones.
        self.snapshot = snapshot;
        self.journal_read = journal;
        self.journal_offset = consumed;
        self.journal_lines = lines;
        Ok(self.runs.insert(runs))
    }

    /// Decode the complete lines of `data`, journal bytes that follow
    /// `lines_before` lines.
    ///
    /// Returns the bytes consumed, the line count after them and the records
    /// in order. A final line without a newline is a torn write and is left
    /// unread.
    fn replay(&self, data: &[u8], lines_before: usize) -> Result<(u64, usize, Vec<Record>)> {
        let consumed = memchr::memrchr(b'\n', data).map_or(0, |at| at + 1);
        let mut records = Vec::new();
        let mut line_number = lines_before;
        if consumed > 0 {
            for line in data[..consumed - 1].split(|&byte| byte == b'\n') {
                line_number += 1;
                let record = decode_journal_line(line).map_err(|damage| StoreError::Corrupt {
                    path: self.journal_path.clone(),
                    line: Some(line_number),
                    reason: damage.reason("line"),
                    store_path: self.path.clone(),
                })?;
                records.push(record);
            }
        }
        Ok((consumed as u64, line_number, records))
    }

    // --- Compaction --------------------------------------------------------------

    fn compact_locked(&mut self, min_journal_bytes: i64) -> Result<bool> {
        let journal_size =
            i64::try_from(journal_data_length(&self.journal_path)?).unwrap_or(i64::MAX);
        if journal_size < min_journal_bytes {
            return Ok(false);
        }

        // Write the runs that retention keeps.
        let retention = self.retention;
        let runs = self.refresh()?;
        let dropped = dropped_by_retention(retention, runs);
        let kept = runs
            .iter()
            .filter(|(run_id, _)| !dropped.contains(run_id.as_str()))
            .map(|(_, record)| &**record);
        let data = encode_snapshot(kept);
        let dropped: Vec<String> = dropped.into_iter().map(str::to_owned).collect();
        let snapshot = write_snapshot(&self.path, &self.folder, &data)?;

        // From here the new snapshot is in place. If a later step fails, the
        // files are still consistent, but the state in memory is reloaded.
        self.snapshot = Some(snapshot);
        if let Err(error) = truncate_journal(&self.journal_path) {
            self.runs = None;
            return Err(error);
        }
        // The refresh above loaded the runs.
        let runs = self.runs.as_mut().expect("runs loaded");
        for run_id in &dropped {
            runs.remove(run_id);
        }
        self.journal_offset = 0;
        self.journal_lines = 0;
        if self.journal_read.is_none() {
            self.journal_read = open_existing(&self.journal_path)?;
        }
        Ok(true)
    }
}

/// Return the ids that retention drops; running runs are always kept.
///
/// A finished run is kept when it is among the `keep_last` newest
/// finished runs of its pipeline (by `started_at`, then id) and its end
/// (`ended_at`, or `started_at` without one) is not older than
/// `max_age_us`.
fn dropped_by_retention(retention: Retention, runs: &Runs) -> HashSet<&str> {
    let Retention {
        keep_last,
        max_age_us,
    } = retention;
    let mut dropped = HashSet::new();
    if keep_last.is_none() && max_age_us.is_none() {
        return dropped;
    }
    let finished = || {
        runs.values()
            .filter(|record| record.field(STATUS) != Some("running"))
    };

    // The newest `keep_last` finished runs of each pipeline.
    let allowed: Option<HashSet<&str>> = keep_last.map(|keep_last| {
        let mut by_pipeline: HashMap<&str, Vec<&Record>> = HashMap::new();
        for record in finished() {
            let pipeline = record.field(PIPELINE_NAME).unwrap_or("");
            by_pipeline.entry(pipeline).or_default().push(record);
        }
        let keep = usize::try_from(keep_last).unwrap_or(usize::MAX);
        let mut allowed = HashSet::new();
        for records in by_pipeline.values_mut() {
            records.sort_unstable_by(|a, b| newest_first_key(b).cmp(&newest_first_key(a)));
            allowed.extend(records.iter().take(keep).map(|record| record.id()));
        }
        allowed
    });

    // Then the age of each finished run.
    let cutoff = max_age_us.map(cutoff_time);
    for record in finished() {
        let run_id = record.id();
        let end = record
            .field(ENDED_AT)
            .or(record.field(STARTED_AT))
            .unwrap_or("");
        let too_old = cutoff.as_deref().is_some_and(|cutoff| end < cutoff);
        if too_old
            || allowed
                .as_ref()
                .is_some_and(|allowed| !allowed.contains(run_id))
        {
            // Keys of `runs` are the ids of their records.
            let (key, _) = runs.get_key_value(run_id).expect("key is the id");
            dropped.insert(key.as_str());
        }
    }
    dropped
}

fn newest_first_key(record: &Record) -> (&str, &str) {
    (record.field(STARTED_AT).unwrap_or(""), record.id())
}

// --- Repair ------------------------------------------------------------------

/// What `repair` did: runs kept, journal lines dropped, files moved aside.
#[derive(Debug, PartialEq, Eq)]
pub struct RepairReport {
    pub kept: usize,
    pub dropped_lines: usize,
    pub moved: Vec<OsString>,
}

/// Move damaged files of the store at `path` aside and rebuild the store
/// from what parses. An undamaged store is left unchanged.
///
/// # Errors
///
/// Returns the folder errors of [`Core::open`] or an OS error.
pub fn repair(path: &OsStr) -> Result<RepairReport> {
    let folder = checked_folder(path)?;
    if !is_writable(&folder) {
        return Err(not_writable(&folder));
    }
    let lock = create_lock(path)?;
    flock(&lock, FlockOperation::LockExclusive)?;
    remove_stale_temp_files(path)?;
    // Closing the lock file releases the lock.
    repair_locked(path)
}

fn repair_locked(path: &OsStr) -> Result<RepairReport> {
    // Every record that parses from the snapshot, then the journal.
    let journal_path = with_suffix(path, ".journal");
    let mut runs = HashMap::new();
    let mut snapshot_damaged = false;
    if let Some(snapshot) = read_file(path)? {
        runs = decode_snapshot(&snapshot).unwrap_or_else(|_| {
            snapshot_damaged = true;
            salvage_snapshot(&snapshot)
        });
    }
    let journal = read_file(&journal_path)?.unwrap_or_default();
    let mut lines: Vec<&[u8]> = journal.split(|&byte| byte == b'\n').collect();
    // `split` yields at least one item; the last is empty after a final newline.
    let torn_tail = lines.pop().expect("split yields one item");
    let mut journal_damaged = false;
    let mut dropped = 0;
    for line in lines {
        if let Ok(record) = decode_journal_line(line) {
            runs.insert(record.id().to_owned(), record);
        } else {
            journal_damaged = true;
            dropped += 1;
        }
    }
    if !(snapshot_damaged || journal_damaged) {
        return Ok(RepairReport {
            kept: runs.len(),
            dropped_lines: 0,
            moved: Vec::new(),
        });
    }
    if torn_tail.first().is_some_and(|&byte| byte != PADDING) {
        dropped += 1;
    }

    // Write the rebuilt snapshot before anything moves, so that a crash at
    // any step leaves either the old files or the rebuilt store, and the
    // damaged originals are never lost.
    let stamp = jiff::Timestamp::now()
        .strftime("%Y%m%dT%H%M%SZ")
        .to_string();
    let mut moved = Vec::new();
    let temp = temp_path(path);
    let written = write_temp(&temp, &encode_snapshot(runs.values()), false).and_then(|file| {
        if snapshot_damaged {
            moved.push(keep_aside(path, &stamp, true)?);
        }
        fs::rename(&temp, path).map_err(|error| on_pair(error, &temp, path))?;
        Ok(file)
    });
    if let Err(error) = written {
        remove_temp(&temp)?;
        return Err(error);
    }
    let (folder, _) = split_path(path);
    sync_folder(&folder)?;

    // Then move the damaged journal aside, or empty the journal.
    if journal_damaged {
        moved.push(keep_aside(&journal_path, &stamp, false)?);
        sync_folder(&folder)?;
    } else {
        truncate_journal(&journal_path)?;
    }
    Ok(RepairReport {
        kept: runs.len(),
        dropped_lines: dropped,
        moved,
    })
}

/// Give the file at `path` the first free name `<path>.corrupt-<stamp>[-N]`
/// and return it.
///
/// With `link`, the file gets a second name (a hard link) and keeps its own,
/// so that the caller can replace it atomically. A file system without hard
/// links gets a rename instead.
fn keep_aside(path: &OsStr, stamp: &str, link: bool) -> Result<OsString> {
    let no_links = [Errno::PERM, Errno::NOTSUP, Errno::OPNOTSUPP, Errno::XDEV];
    for number in 0_u64.. {
        let aside = if number == 0 {
            with_suffix(path, &format!(".corrupt-{stamp}"))
        } else {
            with_suffix(path, &format!(".corrupt-{stamp}-{number}"))
        };
        if fs::symlink_metadata(&aside).is_ok() {
            continue;
        }
        if link {
            match fs::hard_link(path, &aside) {
                Ok(()) => return Ok(aside),
                Err(error) if error.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(error) if !has_errno(&error, &no_links) => {
                    return Err(on_pair(error, path, &aside));
                }
                Err(_) => {}
            }
        }
        fs::rename(path, &aside).map_err(|error| on_pair(error, path, &aside))?;
        return Ok(aside);
    }
    unreachable!("u64 names run out")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store_format::encode_journal_line;

    fn record(id: &str, status: &str, minute: u32) -> Record {
        let text = |value: &str| Some(value.to_owned());
        let started = format!("2024-01-01T02:{minute:02}:00.000000Z");
        Record {
            fields: [
                text(id),
                text("orders"),
                text("job"),
                text(status),
                Some(started.clone()),
                (status != "running").then_some(started),
                None,
                None,
            ],
        }
    }

    fn line(record: &Record) -> Vec<u8> {
        encode_journal_line(record.borrowed())
    }

    struct Folder(std::path::PathBuf);

    impl Folder {
        fn new(name: &str) -> Folder {
            let path = std::env::temp_dir().join(format!("millpond-{name}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&path);
            fs::create_dir(&path).unwrap();
            Folder(path)
        }

        fn store(&self) -> OsString {
            self.0.join("state.json").into_os_string()
        }
    }

    impl Drop for Folder {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn ids(core: &mut Core) -> Vec<String> {
        let mut ids: Vec<String> = core
            .records()
            .unwrap()
            .iter()
            .map(|r| r.id().to_owned())
            .collect();
        ids.sort();
        ids
    }

    #[test]
    fn paths_split_as_pathlib() {
        let split = |path: &str| {
            let (parent, name) = split_path(OsStr::new(path));
            (parent.into_string().unwrap(), name.into_string().unwrap())
        };
        let owned = |parent: &str, name: &str| (parent.to_owned(), name.to_owned());
        assert_eq!(split("state.json"), owned(".", "state.json"));
        assert_eq!(split("/a//b/./s.json"), owned("/a/b", "s.json"));
        assert_eq!(split("/s.json"), owned("/", "s.json"));
        assert_eq!(split("//a/s"), owned("//a", "s"));
        let (parent, name) = split_path(OsStr::from_bytes(b"/x\xff/s\xfe"));
        assert_eq!(
            (parent.as_bytes(), name.as_bytes()),
            (&b"/x\xff"[..], &b"s\xfe"[..])
        );
        assert!(is_temp_name(b"s.json.tmp-12-0123456789abcdef", b"s.json"));
        assert!(!is_temp_name(b"s.json.tmp--0123456789abcdef", b"s.json"));
        assert!(!is_temp_name(b"s.json.tmp-12-0123456789ABCDEF", b"s.json"));
    }

    #[test]
    fn replay_last_write_wins_and_torn_tail() {
        let folder = Folder::new("replay");
        let path = folder.store();
        let mut core = Core::open(&path, false, Retention::default()).unwrap();
        core.upsert(&line(&record("a", "running", 1))).unwrap();
        let end = core.upsert(&line(&record("a", "failed", 1))).unwrap();

        // Spaces pad the journal to a whole chunk.
        let journal = with_suffix(&path, ".journal");
        let data = fs::read(&journal).unwrap();
        assert_eq!(data.len() as u64, JOURNAL_CHUNK);
        assert!(data[..end as usize].ends_with(b"}\n"));
        assert!(data[end as usize..].iter().all(|&byte| byte == b' '));

        // A torn line from a killed writer is ignored, then cut by the next upsert.
        let file = OpenOptions::new().write(true).open(&journal).unwrap();
        file.write_all_at(b"{\"id\":", end).unwrap();
        let stored = core.get("a").unwrap().unwrap();
        assert_eq!(stored.field(STATUS), Some("failed"));
        let next = line(&record("b", "running", 2));
        let size = core.upsert(&next).unwrap();
        assert_eq!(size, end + next.len() as u64);
        let data = fs::read(&journal).unwrap();
        assert_eq!(&data[end as usize..size as usize], &next[..]);
        assert!(data[size as usize..].iter().all(|&byte| byte == b' '));
        assert_eq!(ids(&mut core), ["a", "b"]);

        // Compaction writes both runs to the snapshot and empties the journal.
        assert!(core.compact(0).unwrap());
        assert_eq!(fs::read(&journal).unwrap(), b"");
        assert_eq!(
            fs::read(&path).unwrap(),
            encode_snapshot([&record("a", "failed", 1), &record("b", "running", 2)])
        );
        core.close().unwrap();
        assert!(matches!(core.records(), Err(StoreError::Closed { .. })));
    }

    #[test]
    fn damage_names_file_and_line() {
        let folder = Folder::new("damage");
        let path = folder.store();
        let journal = with_suffix(&path, ".journal");
        let good = line(&record("a", "failed", 1));
        fs::write(&journal, [&good[..], b"[]\n", &good[..]].concat()).unwrap();
        let mut core = Core::open(&path, true, Retention::default()).unwrap();
        let Err(StoreError::Corrupt {
            path: damaged,
            line,
            reason,
            store_path,
        }) = core.records()
        else {
            panic!("expected damage");
        };
        assert_eq!(
            (damaged, line, reason.as_str()),
            (journal.clone(), Some(2), "not a JSON object")
        );
        assert_eq!(store_path, path);

        // Repair moves the journal aside and keeps the valid lines.
        let report = repair(&path).unwrap();
        assert_eq!(
            (report.kept, report.dropped_lines, report.moved.len()),
            (1, 1, 1)
        );
        assert!(!fs::exists(&journal).unwrap());
        assert_eq!(ids(&mut core), ["a"]);
        // A replaced snapshot (a new inode) is read again.
        let replacement = with_suffix(&path, ".new");
        fs::write(&replacement, b"{\"runs\": {}, \"version\": 2}\n").unwrap();
        fs::rename(&replacement, &path).unwrap();
        let Err(StoreError::Corrupt { line, reason, .. }) = core.get("a") else {
            panic!("expected damage");
        };
        assert_eq!(
            (line, reason.as_str()),
            (None, "unsupported version 2: expected 1")
        );
    }

    #[test]
    fn retention_keeps_running_runs() {
        let folder = Folder::new("retention");
        let path = folder.store();
        let retention = Retention {
            keep_last: Some(1),
            max_age_us: None,
        };
        let mut core = Core::open(&path, false, retention).unwrap();
        for (id, status, minute) in [
            ("a", "failed", 1),
            ("b", "succeeded", 2),
            ("c", "running", 0),
        ] {
            core.upsert(&line(&record(id, status, minute))).unwrap();
        }
        core.compact(0).unwrap();
        assert_eq!(ids(&mut core), ["b", "c"]);
        assert!(cutoff_time(i64::MAX).starts_with("0001-01-01T"));
        assert!(cutoff_time(1).as_str() > "2024");
    }

    #[test]
    fn stale_temp_files_removed_on_open() {
        let folder = Folder::new("temp");
        let path = folder.store();
        let stale = with_suffix(&path, ".tmp-1-0123456789abcdef");
        let other = with_suffix(&path, ".tmp-1-0123456789abcdeX");
        fs::write(&stale, b"x").unwrap();
        fs::write(&other, b"x").unwrap();
        Core::open(&path, true, Retention::default()).unwrap();
        assert!(!fs::exists(&stale).unwrap());
        assert!(fs::exists(&other).unwrap());
        let Err(StoreError::Folder { strerror, .. }) = Core::open(
            &with_suffix(&path, "/missing/s.json"),
            true,
            Retention::default(),
        ) else {
            panic!("expected a folder error");
        };
        assert_eq!(strerror, "store folder does not exist, create it first");
    }
}
