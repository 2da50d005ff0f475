//! MNIST digits: the repository's 10,000, or the full set from any directory.
//!
//! The repository keeps 10,000 real MNIST digits in `data/mnist/` (IDX, gzip; attribution
//! and licence in its README), so that a fresh clone trains with no download. The project's
//! convention: the **first 8,000 are the training split** (hold out part of them for
//! validation with [`Dataset::holdout`]) and the **last 2,000 the test split**, which
//! plays no part in training, early stopping or tuning.
//!
//! The full MNIST set (60,000 + 10,000) loads from a directory holding its four standard
//! files with [`Mnist::load_dir`]. The examples call [`Mnist::load_env_or_default`]: when
//! the environment variable `MONOGRAD_MNIST_DIR` ([`Mnist::DIR_VAR`]) names a directory,
//! they train on the full set there; otherwise on the repository's digits.
//!
//! Pixels become `f32` in `[0, 1]` (`byte / 255`), labels `usize` in `0..10`.
//!
//! ```
//! use monograd_nn::data::Mnist;
//! let mnist = Mnist::load_default()?;
//! assert_eq!((mnist.train.len(), mnist.test.len()), (8_000, 2_000));
//! assert_eq!((mnist.rows, mnist.cols, mnist.train.numel()), (28, 28, 784));
//! let (image, label) = (mnist.image(0), mnist.label(0));
//! assert!(image.iter().all(|p| (0.0..=1.0).contains(p)) && label < 10);
//! assert_eq!(mnist.image(8_000), mnist.test.input(0));
//! # Ok::<(), monograd_nn::data::DataError>(())
//! ```

use std::path::{Path, PathBuf};
use std::vec::Vec;

use super::{idx, DataError, Dataset};

/// MNIST digits as a training and a test [`Dataset`] of 28x28 images in `[0, 1]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Mnist {
    /// Training digits: the first 8,000 of the repository's set, or full MNIST's 60,000.
    pub train: Dataset<f32, usize>,
    /// Test digits: the last 2,000 of the repository's set, or full MNIST's 10,000.
    pub test: Dataset<f32, usize>,
    /// Rows of an image (28).
    pub rows: usize,
    /// Columns of an image (28).
    pub cols: usize,
    /// The directory the digits came from.
    pub dir: PathBuf,
}

/// The four files of full MNIST, each also accepted with `.gz`.
const FULL: [&str; 4] =
    ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"];

impl Mnist {
    /// Digit classes.
    pub const CLASSES: usize = 10;
    /// The environment variable naming a directory of full MNIST for
    /// [`Mnist::load_env_or_default`].
    pub const DIR_VAR: &'static str = "MONOGRAD_MNIST_DIR";
    /// The repository's images (`.gz` may be absent: the raw file is accepted too).
    pub const IMAGES_10K: &'static str = "mnist-10k-images-idx3-ubyte";
    /// The repository's labels.
    pub const LABELS_10K: &'static str = "mnist-10k-labels-idx1-ubyte";
    /// Samples in the repository's set.
    pub const LEN_10K: usize = 10_000;
    /// Of which the first this many are the training split; the rest are the test split.
    pub const TRAIN_10K: usize = 8_000;

    /// `data/mnist/` of the repository this crate was built from (resolved at compile
    /// time from the crate's manifest directory: right for the workspace's examples and
    /// tests; elsewhere use [`Mnist::load_10k`] with your own directory).
    pub fn default_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("data").join("mnist")
    }

    /// The repository's 10,000 digits from [`Mnist::default_dir`]: 8,000 training, 2,000
    /// test.
    pub fn load_default() -> Result<Self, DataError> {
        Self::load_10k(Self::default_dir())
    }

    /// The repository's 10,000 digits from `dir`, which holds [`Mnist::IMAGES_10K`] and
    /// [`Mnist::LABELS_10K`] (each raw or `.gz`): 8,000 training, 2,000 test. Any other
    /// number of digits is an error.
    pub fn load_10k(dir: impl AsRef<Path>) -> Result<Self, DataError> {
        let dir = dir.as_ref();
        let images = find(dir, Self::IMAGES_10K)?;
        let labels = find(dir, Self::LABELS_10K)?;
        let all = Part::load(&images, &labels)?;
        if all.n != Self::LEN_10K {
            return Err(DataError::Count { path: images, what: "images", expected: Self::LEN_10K, found: all.n });
        }
        let (rows, cols) = (all.rows, all.cols);
        let numel = rows * cols;
        let (mut x, mut y) = (all.pixels, all.labels);
        let test_x = x.split_off(Self::TRAIN_10K * numel);
        let test_y = y.split_off(Self::TRAIN_10K);
        Ok(Self {
            train: Dataset::new(x, y, numel)?,
            test: Dataset::new(test_x, test_y, numel)?,
            rows,
            cols,
            dir: dir.into(),
        })
    }

    /// Full MNIST from `dir`, holding `train-images-idx3-ubyte`, `train-labels-idx1-ubyte`,
    /// `t10k-images-idx3-ubyte` and `t10k-labels-idx1-ubyte`, each raw or `.gz` (the
    /// uncompressed name wins when both exist). Any number of digits is accepted, as long as
    /// images and labels agree and both parts have the same image size.
    pub fn load_dir(dir: impl AsRef<Path>) -> Result<Self, DataError> {
        let dir = dir.as_ref();
        let [tr_x, tr_y, te_x, te_y] = FULL.map(|name| find(dir, name));
        let (tr_x, te_x) = (tr_x?, te_x?);
        let train = Part::load(&tr_x, &tr_y?)?;
        let test = Part::load(&te_x, &te_y?)?;
        if (test.rows, test.cols) != (train.rows, train.cols) {
            return Err(DataError::ImageSize {
                path: te_x,
                expected: (train.rows, train.cols),
                found: (test.rows, test.cols),
            });
        }
        let numel = train.rows * train.cols;
        Ok(Self {
            train: Dataset::new(train.pixels, train.labels, numel)?,
            test: Dataset::new(test.pixels, test.labels, numel)?,
            rows: train.rows,
            cols: train.cols,
            dir: dir.into(),
        })
    }

    /// Full MNIST from the directory named by `MONOGRAD_MNIST_DIR` when it is set and not
    /// empty ([`Mnist::load_dir`]), else the repository's digits ([`Mnist::load_default`]).
    pub fn load_env_or_default() -> Result<Self, DataError> {
        match std::env::var_os(Self::DIR_VAR) {
            Some(dir) if !dir.is_empty() => Self::load_dir(PathBuf::from(dir)),
            _ => Self::load_default(),
        }
    }

    /// Digits in both parts.
    pub fn len(&self) -> usize {
        self.train.len() + self.test.len()
    }

    /// Whether there are no digits at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Pixels of one image (`rows * cols`).
    pub fn pixels(&self) -> usize {
        self.rows * self.cols
    }

    /// Image `i` in file order: training digits first, then test digits, so `image(i)` is
    /// `train.input(i)` below `train.len()` and `test.input(i - train.len())` above.
    ///
    /// # Panics
    /// If `i >= self.len()`.
    pub fn image(&self, i: usize) -> &[f32] {
        match i.checked_sub(self.train.len()) {
            None => self.train.input(i),
            Some(j) => self.test.input(j),
        }
    }

    /// Label of image `i` in the order of [`Mnist::image`].
    ///
    /// # Panics
    /// If `i >= self.len()`.
    pub fn label(&self, i: usize) -> usize {
        match i.checked_sub(self.train.len()) {
            None => *self.train.target(i),
            Some(j) => *self.test.target(j),
        }
    }
}

/// `dir/name`, or `dir/name.gz`, whichever exists (the uncompressed one first). Whatever
/// exists under the name is taken, so that a directory or a named pipe there is reported
/// as such by the reader (which refuses it) rather than passed over.
fn find(dir: &Path, name: &'static str) -> Result<PathBuf, DataError> {
    let raw = dir.join(name);
    if raw.exists() {
        return Ok(raw);
    }
    let gz = dir.join(std::format!("{name}.gz"));
    if gz.exists() {
        return Ok(gz);
    }
    if !dir.is_dir() {
        let e = std::io::Error::new(std::io::ErrorKind::NotFound, "no such directory");
        return Err(DataError::io(dir, e));
    }
    Err(DataError::Missing { dir: dir.into(), name })
}

/// One images file with its labels file, checked against each other.
struct Part {
    pixels: Vec<f32>,
    labels: Vec<usize>,
    n: usize,
    rows: usize,
    cols: usize,
}

impl Part {
    fn load(images: &Path, labels: &Path) -> Result<Self, DataError> {
        let x = idx::read_images(images)?;
        let y = idx::read_labels(labels)?;
        let (n, rows, cols) = (x.dims()[0], x.dims()[1], x.dims()[2]);
        if rows == 0 || cols == 0 {
            return Err(DataError::EmptyImages { path: images.into(), rows, cols });
        }
        if y.len() != n {
            return Err(DataError::CountMismatch {
                images: images.into(),
                n_images: n,
                labels: labels.into(),
                n_labels: y.len(),
            });
        }
        let mut classes = Vec::with_capacity(n);
        for (index, &label) in y.data().iter().enumerate() {
            let label = usize::from(label);
            if label >= Mnist::CLASSES {
                return Err(DataError::Label { path: labels.into(), index, label, classes: Mnist::CLASSES });
            }
            classes.push(label);
        }
        let pixels = x.data().iter().map(|&b| f32::from(b) / 255.0).collect();
        Ok(Self { pixels, labels: classes, n, rows, cols })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_repository_digits_follow_the_project_split() {
        let m = Mnist::load_default().unwrap();
        assert_eq!((m.train.len(), m.test.len(), m.len(), m.pixels()), (8_000, 2_000, 10_000, 784));
        let mut counts = [0usize; 10];
        for &y in m.test.targets() {
            counts[y] += 1;
        }
        // From data/mnist/README.md.
        assert_eq!(counts, [202, 219, 196, 213, 187, 179, 185, 226, 199, 194]);
        // Pixels are bytes / 255: 0 and 1 both occur, nothing outside.
        let (lo, hi) = m.train.inputs().iter().fold((1.0f32, 0.0f32), |(lo, hi), &p| (lo.min(p), hi.max(p)));
        assert_eq!((lo, hi), (0.0, 1.0));
        assert_eq!(m.label(9_999), *m.test.target(1_999));
    }
}
