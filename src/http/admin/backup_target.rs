//! Where a running gateway may write a backup asked of it over the API: a new file inside its
//! backup folder, reached without following a single link. An API token must not become a way
//! to write anywhere else — not through `..` or an absolute path, not through a subfolder that
//! is a link to elsewhere, not through a link (even a dangling one) planted at the file's name.
//!
//! The folder as configured is the operator's choice, links included: it is resolved once to
//! its canonical path and opened. Everything below it is reached from that handle, one folder
//! at a time with `O_NOFOLLOW`, and the file is created with `O_CREAT | O_EXCL | O_NOFOLLOW`,
//! which refuses any existing name (a link too) instead of following it. Each step starts from
//! the handle the previous one opened, so nothing can be swapped in between a check and the
//! creation: there is no separate check.

use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use rustix::fs::{AtFlags, Mode, OFlags};
use rustix::io::Errno;

/// Why a backup cannot be written where it was asked to be.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error(
        "a running gateway writes backups only inside {}: name a file there, or a path below \
         it without `..`",
        .folder.display()
    )]
    Outside { folder: PathBuf },
    #[error("there is no folder {} in the backup folder; create it first", .0.display())]
    NoSuchFolder(PathBuf),
    #[error(
        "{} in the backup folder is a link or not a folder; backups never follow links",
        .0.display()
    )]
    NotAFolder(PathBuf),
    #[error("{} exists already (as a file or a link); backups never overwrite", .0.display())]
    Exists(PathBuf),
    /// A name the file system cannot hold: too long, or with a NUL byte.
    #[error("{} cannot be a file's name here (too long, or a NUL byte in it)", .0.display())]
    BadName(PathBuf),
    /// The folder cannot be created, opened or written (permissions, a full disk).
    #[error("the backup folder cannot be written: {0}")]
    Unwritable(io::Error),
}

/// The backup folder, open.
pub struct BackupFolder {
    /// As configured, made absolute (without resolving links): how clients name it.
    configured: PathBuf,
    canonical: PathBuf,
    dir: OwnedFd,
}

/// A new, empty backup file, and what it takes to remove it again if the copy fails.
pub struct NewBackup {
    /// Its canonical path.
    pub path: PathBuf,
    pub file: File,
    parent: OwnedFd,
    name: OsString,
}

impl BackupFolder {
    /// Opens the configured folder, creating it on first use.
    pub fn open(configured: &Path) -> Result<BackupFolder, TargetError> {
        std::fs::create_dir_all(configured).map_err(TargetError::Unwritable)?;
        let canonical = std::fs::canonicalize(configured).map_err(TargetError::Unwritable)?;
        let dir = rustix::fs::open(
            &canonical,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|errno| TargetError::Unwritable(errno.into()))?;
        Ok(BackupFolder {
            configured: std::path::absolute(configured).map_err(TargetError::Unwritable)?,
            canonical,
            dir,
        })
    }

    /// `requested` as a path below the folder: relative to it, or absolute under the folder
    /// as configured or as canonical (the CLI sends absolute paths). Only plain names: no
    /// `..`, no `.`, no root.
    pub fn relative(&self, requested: &Path) -> Result<PathBuf, TargetError> {
        let relative = [&self.configured, &self.canonical]
            .into_iter()
            .find_map(|folder| requested.strip_prefix(folder).ok())
            .unwrap_or(requested);
        let plain = relative
            .components()
            .all(|part| matches!(part, Component::Normal(_)));
        if plain && relative.file_name().is_some() {
            // Rebuilt from its parts, so `a/` reads as the file `a` it creates.
            Ok(relative.components().collect())
        } else {
            Err(TargetError::Outside {
                folder: self.canonical.clone(),
            })
        }
    }

    /// Creates `relative` (from [`BackupFolder::relative`]) as a new, empty file.
    pub fn create(&self, relative: &Path) -> Result<NewBackup, TargetError> {
        let outside = || TargetError::Outside {
            folder: self.canonical.clone(),
        };
        let name = relative.file_name().ok_or_else(outside)?.to_owned();
        let folders = relative.parent().unwrap_or(Path::new(""));
        let mut parent = self.dir.try_clone().map_err(TargetError::Unwritable)?;
        let mut walked = PathBuf::new();
        for part in folders.components() {
            let Component::Normal(part) = part else {
                return Err(outside());
            };
            walked.push(part);
            parent = rustix::fs::openat(
                &parent,
                part,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(|errno| match errno {
                Errno::NOENT => TargetError::NoSuchFolder(walked.clone()),
                // A link, refused by O_NOFOLLOW (ELOOP), or a file where a folder should be.
                Errno::LOOP | Errno::NOTDIR => TargetError::NotAFolder(walked.clone()),
                // The name itself (rustix refuses a NUL byte with EINVAL): the caller's to fix.
                Errno::NAMETOOLONG | Errno::INVAL => TargetError::BadName(walked.clone()),
                other => TargetError::Unwritable(other.into()),
            })?;
        }
        let file = rustix::fs::openat(
            &parent,
            &name,
            OFlags::RDWR | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::RUSR | Mode::WUSR,
        )
        .map_err(|errno| match errno {
            Errno::EXIST | Errno::LOOP => TargetError::Exists(relative.to_owned()),
            Errno::NAMETOOLONG | Errno::INVAL => TargetError::BadName(relative.to_owned()),
            other => TargetError::Unwritable(other.into()),
        })?;
        // The new name is durable even if the gateway stops before the copy's first commit.
        rustix::fs::fsync(&parent).map_err(|errno| TargetError::Unwritable(errno.into()))?;
        Ok(NewBackup {
            path: self.canonical.join(relative),
            file: File::from(file),
            parent,
            name,
        })
    }
}

impl NewBackup {
    /// Removes the file again (a failed copy is not a backup), by name in the folder it was
    /// created in.
    pub fn discard(self) {
        drop(self.file);
        if let Err(err) = rustix::fs::unlinkat(self.parent.as_fd(), &self.name, AtFlags::empty()) {
            tracing::warn!(path = %self.path.display(), error = %err, "cannot remove a failed backup");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    fn folder() -> (tempfile::TempDir, BackupFolder) {
        let dir = tempfile::tempdir().unwrap();
        let folder = BackupFolder::open(&dir.path().join("backups")).unwrap();
        (dir, folder)
    }

    #[test]
    fn only_plain_names_below_the_folder_are_accepted() {
        let (dir, folder) = folder();
        let configured = dir.path().join("backups");
        for (requested, expected) in [
            ("a.redb", "a.redb"),
            ("sub/b.redb", "sub/b.redb"),
            (configured.join("c.redb").to_str().unwrap(), "c.redb"),
            (
                folder.canonical.join("d/e.redb").to_str().unwrap(),
                "d/e.redb",
            ),
        ] {
            assert_eq!(
                folder.relative(Path::new(requested)).unwrap(),
                Path::new(expected),
                "{requested}"
            );
        }
        for requested in [
            "",
            ".",
            "../escape.redb",
            "a/../../b.redb",
            "./a.redb",
            "/etc/passwd",
        ] {
            assert!(
                matches!(
                    folder.relative(Path::new(requested)),
                    Err(TargetError::Outside { .. })
                ),
                "{requested}"
            );
        }
    }

    #[test]
    fn creates_new_files_and_never_follows_or_overwrites() {
        let (dir, folder) = folder();
        let root = dir.path().join("backups");
        let elsewhere = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.join("sub")).unwrap();
        std::fs::write(root.join("plain-file"), b"").unwrap();
        symlink(elsewhere.path(), root.join("linked")).unwrap();
        symlink(elsewhere.path().join("planted"), root.join("dangling.redb")).unwrap();

        let made = folder.create(Path::new("sub/new.redb")).unwrap();
        assert_eq!(made.path, folder.canonical.join("sub/new.redb"));
        assert!(root.join("sub/new.redb").is_file());
        assert!(matches!(
            folder.create(Path::new("sub/new.redb")),
            Err(TargetError::Exists(_))
        ));
        made.discard();
        assert!(!root.join("sub/new.redb").exists());

        assert!(matches!(
            folder.create(Path::new("linked/x.redb")),
            Err(TargetError::NotAFolder(path)) if path == Path::new("linked")
        ));
        assert!(matches!(
            folder.create(Path::new("plain-file/x.redb")),
            Err(TargetError::NotAFolder(_))
        ));
        assert!(matches!(
            folder.create(Path::new("dangling.redb")),
            Err(TargetError::Exists(_))
        ));
        assert!(matches!(
            folder.create(Path::new("sub/missing/x.redb")),
            Err(TargetError::NoSuchFolder(path)) if path == Path::new("sub/missing")
        ));
        assert_eq!(
            std::fs::read_dir(elsewhere.path()).unwrap().count(),
            0,
            "nothing was written through a link"
        );
    }

    #[test]
    fn names_the_file_system_cannot_hold_are_the_callers_to_fix() {
        let (_dir, folder) = folder();
        let long = "x".repeat(300);
        for requested in [
            "a\0b.redb".to_owned(),
            format!("{long}.redb"),
            format!("{long}/a.redb"),
        ] {
            let relative = folder.relative(Path::new(&requested)).unwrap();
            assert!(
                matches!(folder.create(&relative), Err(TargetError::BadName(_))),
                "{requested:?}"
            );
        }
    }

    #[test]
    fn a_trailing_slash_names_the_file_it_creates() {
        let (_dir, folder) = folder();
        let relative = folder.relative(Path::new("a/")).unwrap();
        assert_eq!(relative, Path::new("a"));
        let made = folder.create(&relative).unwrap();
        assert_eq!(made.path, folder.canonical.join("a"));
        assert!(!made.path.to_string_lossy().ends_with('/'));
    }
}
