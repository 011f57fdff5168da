//! A read-only SQLite connection through SQLite's C API, for the start-up bulk read only.
//!
//! sqlx reads a row by copying each value into its own allocation on a worker thread and
//! sending the row over a channel: tens of microseconds a station at a million stations. Here a
//! blocking thread steps a statement itself and borrows each value from SQLite until the next
//! step. Everything else goes through sqlx; this is the only `unsafe` of the store.

use crate::store::{StoreError, StoreResult};
use libsqlite3_sys as ffi;
use std::ffi::{c_int, CStr, CString};
use std::marker::PhantomData;
use std::path::Path;
use std::ptr::NonNull;

/// A read-only connection, closed on drop. Used from one thread at a time (`Send`, not `Sync`).
pub(super) struct Connection {
    db: NonNull<ffi::sqlite3>,
}

// SAFETY: the connection is opened with SQLITE_OPEN_NOMUTEX ("multi-thread" mode): it may move
// between threads as long as two threads never use it at once, which `&mut`/no `Sync` ensures.
unsafe impl Send for Connection {}

/// A failure reported by SQLite itself.
fn sqlite_error(what: &str, message: String) -> StoreError {
    StoreError::Db(sqlx::Error::Io(std::io::Error::other(format!(
        "sqlite {what}: {message}"
    ))))
}

impl Connection {
    /// Opens the database file read-only (it must exist), waiting up to `busy_ms` for locks.
    pub(super) fn open_read_only(path: &Path, busy_ms: c_int) -> StoreResult<Self> {
        let name = CString::new(path.as_os_str().as_encoded_bytes())
            .map_err(|_| sqlite_error("open", format!("path {path:?} holds a NUL byte")))?;
        let mut db: *mut ffi::sqlite3 = std::ptr::null_mut();
        // SAFETY: `name` is a valid C string and `db` a valid out-pointer; a null VFS name
        // means the default VFS.
        let rc = unsafe {
            ffi::sqlite3_open_v2(
                name.as_ptr(),
                &mut db,
                ffi::SQLITE_OPEN_READONLY | ffi::SQLITE_OPEN_NOMUTEX,
                std::ptr::null(),
            )
        };
        // Even a failed open returns a handle (to read the message from) unless out of memory.
        let Some(db) = NonNull::new(db) else {
            return Err(sqlite_error("open", "out of memory".into()));
        };
        let conn = Self { db };
        if rc != ffi::SQLITE_OK {
            return Err(sqlite_error("open", conn.message()));
        }
        // SAFETY: `db` is an open connection.
        unsafe { ffi::sqlite3_busy_timeout(conn.db.as_ptr(), busy_ms) };
        Ok(conn)
    }

    /// SQLite's message for the last failure on this connection.
    fn message(&self) -> String {
        // SAFETY: `db` is a live handle; the message is a NUL-terminated string SQLite owns
        // until the next call on the connection, copied out at once.
        unsafe { CStr::from_ptr(ffi::sqlite3_errmsg(self.db.as_ptr())) }
            .to_string_lossy()
            .into_owned()
    }

    /// Compiles one SQL statement.
    pub(super) fn prepare(&mut self, sql: &str) -> StoreResult<Statement<'_>> {
        let len = c_int::try_from(sql.len())
            .map_err(|_| sqlite_error("prepare", "statement too long".into()))?;
        let mut stmt: *mut ffi::sqlite3_stmt = std::ptr::null_mut();
        // SAFETY: `sql` is valid for `len` bytes (no NUL needed when the length is given);
        // `stmt` is a valid out-pointer; no tail pointer is asked for.
        let rc = unsafe {
            ffi::sqlite3_prepare_v2(
                self.db.as_ptr(),
                sql.as_ptr().cast(),
                len,
                &mut stmt,
                std::ptr::null_mut(),
            )
        };
        match NonNull::new(stmt) {
            Some(stmt) if rc == ffi::SQLITE_OK => Ok(Statement {
                stmt,
                conn: PhantomData,
            }),
            Some(stmt) => {
                // SAFETY: a statement handle returned alongside an error is still to be freed.
                unsafe { ffi::sqlite3_finalize(stmt.as_ptr()) };
                Err(sqlite_error("prepare", self.message()))
            }
            None if rc == ffi::SQLITE_OK => Err(sqlite_error("prepare", "empty statement".into())),
            None => Err(sqlite_error("prepare", self.message())),
        }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        // SAFETY: every statement borrows the connection, so all were finalized before this
        // (sqlite3_close would refuse to close otherwise).
        unsafe { ffi::sqlite3_close(self.db.as_ptr()) };
    }
}

/// A compiled statement of a [`Connection`], finalized on drop.
pub(super) struct Statement<'c> {
    stmt: NonNull<ffi::sqlite3_stmt>,
    conn: PhantomData<&'c mut Connection>,
}

/// A column's storage class, as SQLite reports it for the current row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Integer,
    Float,
    Text,
    Blob,
    Null,
}

impl<'c> Statement<'c> {
    /// Binds an integer to the 1-based parameter `index`.
    pub(super) fn bind_i64(&mut self, index: c_int, value: i64) -> StoreResult<()> {
        // SAFETY: a live statement; SQLite checks the index and reports SQLITE_RANGE.
        let rc = unsafe { ffi::sqlite3_bind_int64(self.stmt.as_ptr(), index, value) };
        if rc == ffi::SQLITE_OK {
            Ok(())
        } else {
            Err(self.error("bind"))
        }
    }

    fn error(&self, what: &str) -> StoreError {
        // SAFETY: a live statement belongs to a live connection.
        let db = unsafe { ffi::sqlite3_db_handle(self.stmt.as_ptr()) };
        // SAFETY: as in `Connection::message`.
        let message = unsafe { CStr::from_ptr(ffi::sqlite3_errmsg(db)) }
            .to_string_lossy()
            .into_owned();
        sqlite_error(what, message)
    }

    /// Moves to the next row: `Ok(true)` while there is one, `Ok(false)` at the end.
    /// Values read from the previous row are invalid after this (the borrow checker sees to it).
    pub(super) fn step(&mut self) -> StoreResult<bool> {
        // SAFETY: a live statement, stepped from one thread.
        match unsafe { ffi::sqlite3_step(self.stmt.as_ptr()) } {
            ffi::SQLITE_ROW => Ok(true),
            ffi::SQLITE_DONE => Ok(false),
            _ => Err(self.error("step")),
        }
    }

    /// The storage class of column `col` (0-based) in the current row.
    pub(super) fn kind(&self, col: c_int) -> Kind {
        // SAFETY: a live statement positioned on a row; out-of-range columns read as NULL.
        match unsafe { ffi::sqlite3_column_type(self.stmt.as_ptr(), col) } {
            ffi::SQLITE_INTEGER => Kind::Integer,
            ffi::SQLITE_FLOAT => Kind::Float,
            ffi::SQLITE_TEXT => Kind::Text,
            ffi::SQLITE_BLOB => Kind::Blob,
            _ => Kind::Null,
        }
    }

    /// Column `col` as an integer, converted as `CAST(… AS INTEGER)` does (NULL is 0).
    pub(super) fn int(&self, col: c_int) -> i64 {
        // SAFETY: as in `kind`.
        unsafe { ffi::sqlite3_column_int64(self.stmt.as_ptr(), col) }
    }

    /// Column `col` as bytes of text, converted as `CAST(… AS TEXT)` does; `None` for NULL.
    /// Borrowed until the next step.
    pub(super) fn text(&self, col: c_int) -> Option<&[u8]> {
        self.bytes(col, Conversion::Text)
    }

    /// Column `col` as a blob (text is returned as its bytes); `None` for NULL.
    /// Borrowed until the next step.
    pub(super) fn blob(&self, col: c_int) -> Option<&[u8]> {
        self.bytes(col, Conversion::Blob)
    }

    fn bytes(&self, col: c_int, conversion: Conversion) -> Option<&[u8]> {
        if self.kind(col) == Kind::Null {
            return None;
        }
        let stmt = self.stmt.as_ptr();
        // SAFETY: as in `kind`. The value first, then sqlite3_column_bytes, is the documented
        // order: the pointer then stays valid until the next step or reset, which need
        // `&mut self` while the returned slice borrows `self`.
        let (p, n) = unsafe {
            let p: *const u8 = match conversion {
                Conversion::Text => ffi::sqlite3_column_text(stmt, col),
                Conversion::Blob => ffi::sqlite3_column_blob(stmt, col).cast(),
            };
            (p, ffi::sqlite3_column_bytes(stmt, col))
        };
        // SQLite returns a null pointer for an empty blob.
        Some(match usize::try_from(n) {
            // SAFETY: SQLite's pointer is valid for the `n` bytes it reports, as said above.
            Ok(n) if n > 0 && !p.is_null() => unsafe { std::slice::from_raw_parts(p, n) },
            _ => &[],
        })
    }
}

/// How [`Statement::bytes`] asks SQLite for a value.
#[derive(Clone, Copy)]
enum Conversion {
    Text,
    Blob,
}

impl Drop for Statement<'_> {
    fn drop(&mut self) {
        // SAFETY: the statement is live and finalized once.
        unsafe { ffi::sqlite3_finalize(self.stmt.as_ptr()) };
    }
}
