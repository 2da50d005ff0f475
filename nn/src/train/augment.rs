//! Data augmentation: small, label-preserving changes to training images.
//!
//! [`RandomShift`] moves each image by a whole number of pixels, at most `max` in each
//! direction, drawn independently per image: a digit moved by two pixels is the same
//! digit, so the network learns not to care where exactly it sits. The uncovered border is
//! filled with a constant (the background: 0 for raw pixels, or `-mean / std` after
//! normalisation).
//!
//! Use it through [`Trainer::augment`](super::Trainer::augment); it draws from the
//! trainer's seeded generator, so runs stay reproducible.

use monograd_core::Rng;

/// Moves images (`channels × rows × cols`, flat and row-major, a whole batch at a time) by
/// up to `max` pixels vertically and horizontally, in place, filling the uncovered border.
///
/// ```
/// use monograd_core::Rng;
/// use monograd_nn::train::RandomShift;
/// let shift = RandomShift::new(1, 3, 3, 1).fill(-1.0);
/// let mut img = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0];
/// RandomShift::shift_by(&shift, &mut img, 1, -1); // one down, one left
/// assert_eq!(img, [-1.0, -1.0, -1.0, 2.0, 3.0, -1.0, 5.0, 6.0, -1.0]);
///
/// let mut batch = [0.5f32; 2 * 9];
/// shift.apply(&mut batch, &mut Rng::seed(0));
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RandomShift {
    channels: usize,
    rows: usize,
    cols: usize,
    max: usize,
    fill: f32,
}

impl RandomShift {
    /// Shifts of up to `max` pixels each way on images of `channels × rows × cols`,
    /// filling with 0.
    pub fn new(channels: usize, rows: usize, cols: usize, max: usize) -> Self {
        Self { channels, rows, cols, max, fill: 0.0 }
    }

    /// The value of uncovered pixels (default 0).
    pub fn fill(self, fill: f32) -> Self {
        Self { fill, ..self }
    }

    /// Values per image.
    pub fn numel(&self) -> usize {
        self.channels * self.rows * self.cols
    }

    /// Shifts every image of `batch` by its own draw of `(dy, dx)`, each uniform in
    /// `-max..=max`. A trailing partial image is left alone.
    pub fn apply(&self, batch: &mut [f32], rng: &mut Rng) {
        let n = self.numel();
        if n == 0 {
            return;
        }
        let span = 2 * self.max + 1;
        for image in batch.chunks_exact_mut(n) {
            let dy = rng.below(span) as isize - self.max as isize;
            let dx = rng.below(span) as isize - self.max as isize;
            self.shift_by(image, dy, dx);
        }
    }

    /// Moves one image `dy` rows down and `dx` columns right (negative: up, left).
    ///
    /// Rows and columns are visited from the side the image moves towards, so every value
    /// is read before it is overwritten and no scratch memory is needed.
    pub fn shift_by(&self, image: &mut [f32], dy: isize, dx: isize) {
        let (rows, cols) = (self.rows as isize, self.cols as isize);
        if dy == 0 && dx == 0 {
            return;
        }
        for plane in image.chunks_exact_mut(self.rows * self.cols) {
            for i in 0..rows {
                let r = if dy > 0 { rows - 1 - i } else { i };
                for j in 0..cols {
                    let c = if dx > 0 { cols - 1 - j } else { j };
                    let (sr, sc) = (r - dy, c - dx);
                    let v = if (0..rows).contains(&sr) && (0..cols).contains(&sc) {
                        plane[(sr * cols + sc) as usize]
                    } else {
                        self.fill
                    };
                    plane[(r * cols + c) as usize] = v;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shift computed with a copy, as the definition says.
    fn reference(img: &[f32], rows: usize, cols: usize, dy: isize, dx: isize, fill: f32) -> std::vec::Vec<f32> {
        let mut out = std::vec![fill; img.len()];
        for r in 0..rows as isize {
            for c in 0..cols as isize {
                let (sr, sc) = (r - dy, c - dx);
                if (0..rows as isize).contains(&sr) && (0..cols as isize).contains(&sc) {
                    out[(r * cols as isize + c) as usize] = img[(sr * cols as isize + sc) as usize];
                }
            }
        }
        out
    }

    #[test]
    fn in_place_shifts_match_the_definition_in_every_direction() {
        let s = RandomShift::new(1, 4, 5, 2).fill(-0.5);
        let img: std::vec::Vec<f32> = (0..20).map(|v| v as f32).collect();
        for dy in -2..=2 {
            for dx in -2..=2 {
                let mut got = img.clone();
                s.shift_by(&mut got, dy, dx);
                assert_eq!(got, reference(&img, 4, 5, dy, dx, -0.5), "dy {dy} dx {dx}");
            }
        }
    }

    #[test]
    fn each_image_gets_its_own_shift_and_the_seed_decides() {
        let s = RandomShift::new(2, 6, 6, 2);
        let base: std::vec::Vec<f32> = (0..8 * 72).map(|v| (v % 72) as f32 + 1.0).collect();
        let (mut a, mut b) = (base.clone(), base.clone());
        s.apply(&mut a, &mut Rng::seed(4));
        s.apply(&mut b, &mut Rng::seed(4));
        assert_eq!(a, b);
        let changed = a.chunks(72).filter(|img| img != &&base[..72]).count();
        assert!(changed >= 6, "{changed} of 8 images moved");
        // Both channels of an image move together.
        for img in a.chunks(72) {
            let (c0, c1) = img.split_at(36);
            let zeros0: std::vec::Vec<bool> = c0.iter().map(|&v| v == 0.0).collect();
            let zeros1: std::vec::Vec<bool> = c1.iter().map(|&v| v == 0.0).collect();
            assert_eq!(zeros0, zeros1);
        }
    }
}
