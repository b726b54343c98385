//! Secrets at rest: the data dir is readable by the server's user only, and
//! the server's two secrets live outside the store, each in its own file.
//!
//! - The data dir is 0700 and every file in it 0600 ([`prepare_data_dir`]):
//!   the store holds password hashes and the keys sign tokens and tickets, so
//!   no other local user may read any of it. Dirs made by older versions
//!   (0755 and 0644) are tightened at every start; the binary also sets its
//!   umask to 077, so what sled creates later is born private.
//! - The token (JWT) secret and the QR key are independent ([`load_secrets`]):
//!   each comes from the settings or from its key file under `<data>/keys/`
//!   (0600, hex), generated from the injected random source on first start.
//!   Rotating the token secret ends logins and waiting-room places, never a
//!   sold ticket; the QR key is never rotated implicitly.
//!
//! Migration from data dirs where the token secret sat in the store's
//! metadata, and the QR key was derived from it: the secret moves to
//! `jwt.key` (issued tokens stay valid), the key that verifies the codes
//! already sold is written to `qr.key`, and only then is the secret removed
//! from the store. Each step is idempotent, so a crash between them is
//! finished by the next start.

use boxoffice_actors::IdSource;
use boxoffice_storage::Store;
use std::fs::{self, DirBuilder, OpenOptions, Permissions};
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::settings::Settings;
use crate::tickets_qr::QrSigner;

/// Mode of the data dir and every directory in it: owner only.
pub const PRIVATE_DIR_MODE: u32 = 0o700;
/// Mode of every file in the data dir: owner read and write only.
pub const PRIVATE_FILE_MODE: u32 = 0o600;
/// The key files' directory, inside the data dir but outside the store.
pub const KEYS_DIR: &str = "keys";
/// The token secret's file.
pub const JWT_KEY_FILE: &str = "jwt.key";
/// The QR key's file.
pub const QR_KEY_FILE: &str = "qr.key";
/// Shortest secret accepted, from the settings or a key file.
pub const MIN_SECRET_BYTES: usize = 16;
/// Length of a generated secret.
pub const GENERATED_SECRET_BYTES: usize = 32;
/// Longest key file read (a hex key of 1 KiB is far past any sane secret).
const MAX_KEY_FILE_BYTES: u64 = 2_048;
/// Deepest the tightening walk goes (sled's layout is two levels deep); a
/// bound, so a symlink loop or an odd tree cannot keep start-up busy.
const MAX_WALK_DEPTH: usize = 8;
/// Where versions before the key files kept a generated token secret.
const LEGACY_JWT_SECRET_META: &str = "jwt-secret";
/// A file sled creates in every store it makes: present means the data dir
/// held a store before this start.
const STORE_MARKER_FILE: &str = "conf";

/// Creates the data dir 0700 if needed and tightens what is already there.
/// Returns whether the dir already held a store (which decides how a
/// missing QR key is made, see [`load_secrets`]).
pub fn prepare_data_dir(dir: &Path) -> Result<bool, String> {
    let existed = dir.join(STORE_MARKER_FILE).exists();
    DirBuilder::new()
        .recursive(true)
        .mode(PRIVATE_DIR_MODE)
        .create(dir)
        .map_err(|e| format!("data dir {}: {e}", dir.display()))?;
    tighten(dir)?;
    Ok(existed)
}

/// Sets the data dir and every directory under it to 0700 and every file to
/// 0600. Symlinks are left alone (their targets are not ours to change).
pub fn tighten(dir: &Path) -> Result<(), String> {
    tighten_at(dir, 0).map_err(|(path, e)| format!("tightening {}: {e}", path.display()))
}

fn tighten_at(dir: &Path, depth: usize) -> Result<(), (PathBuf, std::io::Error)> {
    let at = |path: &Path| {
        let path = path.to_path_buf();
        move |e| (path, e)
    };
    fs::set_permissions(dir, Permissions::from_mode(PRIVATE_DIR_MODE)).map_err(at(dir))?;
    if depth >= MAX_WALK_DEPTH {
        return Ok(());
    }
    for entry in fs::read_dir(dir).map_err(at(dir))? {
        let entry = entry.map_err(at(dir))?;
        let path = entry.path();
        // `file_type` does not follow symlinks.
        let tightened = entry.file_type().map_err(at(&path)).and_then(|kind| {
            if kind.is_dir() {
                tighten_at(&path, depth + 1)
            } else if kind.is_file() {
                fs::set_permissions(&path, Permissions::from_mode(PRIVATE_FILE_MODE))
                    .map_err(at(&path))
            } else {
                Ok(())
            }
        });
        match tightened {
            // Removed between the listing and now (a temporary file of the
            // search index, say): nothing is left to tighten.
            Err((_, e)) if e.kind() == std::io::ErrorKind::NotFound => {}
            other => other?,
        }
    }
    Ok(())
}

/// The server's two secrets.
pub struct ServerSecrets {
    /// Signs access and refresh tokens (and waiting-room tokens).
    pub jwt: Vec<u8>,
    /// Signs ticket QR codes.
    pub qr: Vec<u8>,
}

/// The token secret and the QR key for this start (see the module doc).
/// `store_existed`: whether the data dir held a store before this start.
pub fn load_secrets(
    settings: &Settings,
    store: &dyn Store,
    ids: &IdSource,
    store_existed: bool,
) -> Result<ServerSecrets, String> {
    let keys = settings.data_dir.join(KEYS_DIR);
    DirBuilder::new()
        .recursive(true)
        .mode(PRIVATE_DIR_MODE)
        .create(&keys)
        .map_err(|e| format!("key dir {}: {e}", keys.display()))?;
    tighten(&keys)?;
    let configured_jwt = configured("BOXOFFICE_JWT_SECRET", settings.jwt_secret.as_deref())?;
    let configured_qr = configured("BOXOFFICE_QR_KEY", settings.qr_key.as_deref())?;
    let in_store = store
        .get_meta(LEGACY_JWT_SECRET_META)
        .map_err(|e| format!("reading the store's metadata: {e}"))?;

    // The QR key first: on migration it is derived from the secret that
    // signed today's codes, which must not have been moved away yet.
    let qr_file = keys.join(QR_KEY_FILE);
    let qr = match (configured_qr, read_key(&qr_file)?) {
        (Some(key), _) | (None, Some(key)) => key,
        (None, None) => {
            // Before the split, codes were signed under a key derived from
            // the token secret in use (the configured one, else the store's).
            let signed_with = configured_jwt.clone().or_else(|| in_store.clone());
            let key = match signed_with.filter(|_| store_existed) {
                Some(secret) => QrSigner::legacy_key(&secret),
                None => ids.bytes::<GENERATED_SECRET_BYTES>().to_vec(),
            };
            write_key(&qr_file, &key)?;
            key
        }
    };

    let jwt_file = keys.join(JWT_KEY_FILE);
    let jwt = match (configured_jwt, read_key(&jwt_file)?) {
        (Some(secret), _) | (None, Some(secret)) => secret,
        (None, None) => {
            // The store's secret keeps the tokens it signed valid.
            let secret = match &in_store {
                Some(secret) => secret.clone(),
                None => ids.bytes::<GENERATED_SECRET_BYTES>().to_vec(),
            };
            write_key(&jwt_file, &secret)?;
            secret
        }
    };

    if in_store.is_some() {
        store
            .delete_meta(LEGACY_JWT_SECRET_META)
            .and_then(|()| store.flush())
            .map_err(|e| format!("removing the token secret from the store: {e}"))?;
    }
    Ok(ServerSecrets { jwt, qr })
}

/// A configured secret's bytes, if set; too short is refused by name.
fn configured(name: &str, value: Option<&str>) -> Result<Option<Vec<u8>>, String> {
    match value {
        Some(secret) if secret.len() < MIN_SECRET_BYTES => {
            Err(format!("{name} must be at least {MIN_SECRET_BYTES} bytes"))
        }
        Some(secret) => Ok(Some(secret.as_bytes().to_vec())),
        None => Ok(None),
    }
}

/// The key in `path` (hex, one line), if the file exists.
fn read_key(path: &Path) -> Result<Option<Vec<u8>>, String> {
    let fail = |why: String| format!("key file {}: {why}", path.display());
    let text = match fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(fail(e.to_string())),
        Ok(meta) if meta.len() > MAX_KEY_FILE_BYTES => {
            return Err(fail(format!("longer than {MAX_KEY_FILE_BYTES} bytes")))
        }
        Ok(_) => fs::read_to_string(path).map_err(|e| fail(e.to_string()))?,
    };
    let key = from_hex(text.trim()).ok_or_else(|| fail("not a hex key".into()))?;
    if key.len() < MIN_SECRET_BYTES {
        return Err(fail(format!("shorter than {MIN_SECRET_BYTES} bytes")));
    }
    Ok(Some(key))
}

/// Writes `key` to `path` as hex, 0600, atomically (a temporary file, synced,
/// then renamed and the directory synced): a crash leaves the old state or
/// the new one, never a torn key.
fn write_key(path: &Path, key: &[u8]) -> Result<(), String> {
    let fail = |e: std::io::Error| format!("key file {}: {e}", path.display());
    let temporary: PathBuf = path.with_extension("key.tmp");
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(PRIVATE_FILE_MODE)
        .open(&temporary)
        .map_err(fail)?;
    // `mode` applies only to a new file; a leftover temporary may be looser.
    file.set_permissions(Permissions::from_mode(PRIVATE_FILE_MODE))
        .map_err(fail)?;
    writeln!(file, "{}", to_hex(key)).map_err(fail)?;
    file.sync_all().map_err(fail)?;
    fs::rename(&temporary, path).map_err(fail)?;
    if let Some(dir) = path.parent() {
        fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(fail)?;
    }
    Ok(())
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn from_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh directory under the system's temp dir, removed when dropped
    /// (this crate's tests have no tempfile).
    struct Scratch(PathBuf);
    impl Scratch {
        fn new(name: &str) -> Scratch {
            let path =
                std::env::temp_dir().join(format!("boxoffice-{name}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&path);
            fs::create_dir_all(&path).expect("scratch dir");
            Scratch(path)
        }
        fn path(&self) -> &Path {
            &self.0
        }
    }
    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn hex_round_trips_and_refuses_junk() {
        let key = [0u8, 1, 0xab, 0xff];
        assert_eq!(from_hex(&to_hex(&key)), Some(key.to_vec()));
        assert_eq!(from_hex("abc"), None);
        assert_eq!(from_hex("zz"), None);
        assert_eq!(from_hex("é1"), None);
    }

    #[test]
    fn a_data_dir_is_created_private_and_an_old_one_is_tightened() {
        let root = Scratch::new("data-dir");
        let data = root.path().join("data");
        assert!(!prepare_data_dir(&data).expect("created"));
        let mode = |p: &Path| fs::metadata(p).expect("metadata").permissions().mode() & 0o777;
        assert_eq!(mode(&data), PRIVATE_DIR_MODE);

        // As an older version left it: 0755 dirs, 0644 files.
        fs::create_dir(data.join("blobs")).expect("mkdir");
        for file in [data.join("conf"), data.join("blobs").join("1")] {
            fs::write(&file, b"x").expect("write");
            fs::set_permissions(&file, Permissions::from_mode(0o644)).expect("chmod");
        }
        for dir in [&data, &data.join("blobs")] {
            fs::set_permissions(dir, Permissions::from_mode(0o755)).expect("chmod");
        }
        assert!(
            prepare_data_dir(&data).expect("tightened"),
            "it held a store"
        );
        assert_eq!(mode(&data), PRIVATE_DIR_MODE);
        assert_eq!(mode(&data.join("blobs")), PRIVATE_DIR_MODE);
        assert_eq!(mode(&data.join("conf")), PRIVATE_FILE_MODE);
        assert_eq!(mode(&data.join("blobs").join("1")), PRIVATE_FILE_MODE);
    }

    #[test]
    fn key_files_are_private_and_read_back() {
        let root = Scratch::new("key-file");
        let path = root.path().join(QR_KEY_FILE);
        assert_eq!(read_key(&path), Ok(None));
        let key = [7u8; 32];
        write_key(&path, &key).expect("written");
        let mode = fs::metadata(&path).expect("metadata").permissions().mode() & 0o777;
        assert_eq!(mode, PRIVATE_FILE_MODE);
        assert_eq!(read_key(&path), Ok(Some(key.to_vec())));
        fs::write(&path, "0011\n").expect("write");
        assert!(read_key(&path).is_err_and(|e| e.contains("shorter than 16")));
    }
}
