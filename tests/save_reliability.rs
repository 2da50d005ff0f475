//! Saves behave like a careful tool's (docs/RELIABILITY.md): the temporary files a crashed
//! save leaves behind are removed by the next save to the same target (only ours, only
//! old ones), and saving through a symbolic link replaces the file it points to and keeps
//! the link.
#![cfg(feature = "safetensors")]

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use monograd::nn::serialize::atomic::{self, STALE_AFTER};
use monograd::nn::serialize::{checkpoint, safetensors};
use monograd::prelude::*;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("monograd-saves-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// Writes `bytes` at `path`, last modified `age` ago.
fn aged(path: &Path, bytes: &[u8], age: Duration) {
    fs::write(path, bytes).unwrap();
    let f = fs::File::options().write(true).open(path).unwrap();
    f.set_modified(SystemTime::now() - age).unwrap();
}

#[test]
fn a_save_removes_the_stale_temporary_files_of_earlier_saves_to_its_target_only() {
    let dir = temp_dir("stale");
    let target = dir.join("w.safetensors");
    let old = STALE_AFTER + Duration::from_secs(60);
    let young = Duration::from_secs(60);
    // Left by crashed saves of this target: removed when old enough.
    let stale = [dir.join(".w.safetensors.4242.0.tmp"), dir.join(".w.safetensors.1.17.tmp")];
    for p in &stale {
        aged(p, b"half a model", old);
    }
    // Kept: a temporary file a running save may still be writing; another target's; names
    // that are not ours; a directory with our name.
    let kept = [
        dir.join(".w.safetensors.4242.1.tmp"),
        dir.join(".v.safetensors.4242.0.tmp"),
        dir.join(".w.safetensors.tmp"),
        dir.join(".w.safetensors.x.0.tmp"),
        dir.join("w.safetensors.4242.0.tmp"),
        dir.join(".w.safetensors.4242.0.tmp.bak"),
    ];
    aged(&kept[0], b"in progress", young);
    for p in &kept[1..] {
        aged(p, b"not ours", old);
    }
    let our_dir = dir.join(".w.safetensors.7.7.tmp");
    fs::create_dir(&our_dir).unwrap();

    let fc = Linear::<3, 2>::new(&mut Rng::seed(0));
    safetensors::save(&fc, &target).unwrap();
    for p in &stale {
        assert!(!p.exists(), "{} should be removed", p.display());
    }
    for p in &kept {
        assert!(p.exists(), "{} should be kept", p.display());
    }
    assert!(our_dir.is_dir());
    let mut back = Linear::<3, 2>::default();
    safetensors::load(&mut back, &target, &Default::default()).unwrap();
    assert_eq!(back, fc);

    // Checkpoints and plain atomic writes go through the same code.
    aged(&stale[0], b"half a checkpoint", old);
    checkpoint::save(&fc, &Sgd::new(0.1f32), &Default::default(), &target).unwrap();
    assert!(!stale[0].exists());
    let bin = dir.join("blob.bin");
    let blob_stale = dir.join(".blob.bin.99.3.tmp");
    aged(&blob_stale, b"x", old);
    atomic::write(&bin, b"blob").unwrap();
    assert!(!blob_stale.exists());
    fs::remove_dir_all(&dir).unwrap();
}

#[cfg(unix)]
#[test]
fn saving_through_a_symbolic_link_writes_its_target_and_keeps_the_link() {
    use std::os::unix::fs::symlink;
    let dir = temp_dir("links");
    fs::create_dir(dir.join("store")).unwrap();
    let real = dir.join("store").join("model-v1.safetensors");
    let link = dir.join("model.safetensors");
    symlink("store/model-v1.safetensors", &link).unwrap(); // relative, as `ln -s` makes them

    let first = Linear::<3, 2>::new(&mut Rng::seed(1));
    let second = Linear::<3, 2>::new(&mut Rng::seed(2));
    for (i, model) in [&first, &second].into_iter().enumerate() {
        // The first save creates the file the dangling link names; the second replaces it.
        safetensors::save(model, &link).unwrap();
        assert!(fs::symlink_metadata(&link).unwrap().file_type().is_symlink(), "save {i}: the link was replaced");
        assert_eq!(fs::read_link(&link).unwrap(), Path::new("store/model-v1.safetensors"));
        assert!(fs::symlink_metadata(&real).unwrap().file_type().is_file());
        let mut back = Linear::<3, 2>::default();
        safetensors::load(&mut back, &real, &Default::default()).unwrap();
        assert_eq!(&back, model, "save {i}");
    }
    // No temporary file is left beside the link or the target.
    for d in [&dir, &dir.join("store")] {
        let leftovers: Vec<_> =
            fs::read_dir(d).unwrap().flatten().filter(|e| e.file_name().to_string_lossy().ends_with(".tmp")).collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    // A chain of links, the last one absolute: the end of the chain is written.
    let chain = dir.join("latest.safetensors");
    let middle = dir.join("store").join("current.safetensors");
    symlink(&real, &middle).unwrap();
    symlink("store/current.safetensors", &chain).unwrap();
    atomic::write(&chain, b"through two links").unwrap();
    assert_eq!(fs::read(&real).unwrap(), b"through two links");
    assert!(fs::symlink_metadata(&chain).unwrap().file_type().is_symlink());
    assert!(fs::symlink_metadata(&middle).unwrap().file_type().is_symlink());

    // A loop of links is an error, and writes nothing.
    let (a, b) = (dir.join("a"), dir.join("b"));
    symlink("b", &a).unwrap();
    symlink("a", &b).unwrap();
    let e = atomic::write(&a, b"x").unwrap_err();
    assert!(e.to_string().contains("too many levels of symbolic links"), "{e}");
    fs::remove_dir_all(&dir).unwrap();
}
