//! Row-band parallelism on scoped threads.
//!
//! The crate reaches rayon only through `image`, so pixel loops split their rows into one band
//! per core by hand. Small images run on the calling thread: a spawn costs more than it saves.

use std::num::NonZeroUsize;
use std::thread;

/// Items below which a band is not worth a thread.
const MIN_ITEMS_PER_BAND: usize = 48 * 1024;

fn bands_for(items: usize, rows: usize) -> usize {
    let cores = thread::available_parallelism().map_or(1, NonZeroUsize::get);
    cores.min(items / MIN_ITEMS_PER_BAND).min(rows).max(1)
}

/// Calls `f(first_row, band)` on disjoint bands of whole rows of `data` (`width` items a row),
/// the bands in parallel.
pub fn for_each_band<T: Send>(data: &mut [T], width: usize, f: impl Fn(usize, &mut [T]) + Sync) {
    if width == 0 || data.is_empty() {
        return;
    }
    let rows = data.len() / width;
    let bands = bands_for(data.len(), rows);
    if bands <= 1 {
        f(0, data);
        return;
    }
    let band_rows = rows.div_ceil(bands);
    thread::scope(|scope| {
        let f = &f;
        let mut chunks = data.chunks_mut(band_rows * width).enumerate();
        let first = chunks.next();
        for (i, band) in chunks {
            scope.spawn(move || f(i * band_rows, band));
        }
        if let Some((_, band)) = first {
            f(0, band);
        }
    });
}

/// Calls `f(y, row)` for every row of `data`, bands of rows in parallel.
pub fn for_each_row<T: Send>(data: &mut [T], width: usize, f: impl Fn(usize, &mut [T]) + Sync) {
    for_each_band(data, width, |first, band| {
        for (i, row) in band.chunks_mut(width).enumerate() {
            f(first + i, row);
        }
    });
}

/// A `width` × `height` raster whose rows `f(y, row)` fills, in parallel.
pub fn rows_from_fn<T: Send + Clone + Default>(
    width: usize,
    height: usize,
    f: impl Fn(usize, &mut [T]) + Sync,
) -> Vec<T> {
    let mut data = vec![T::default(); width * height];
    for_each_row(&mut data, width, f);
    data
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_row_is_visited_once_with_its_index() {
        let (width, height) = (300, 500);
        let data = rows_from_fn::<u32>(width, height, |y, row| {
            for value in row.iter_mut() {
                *value += y as u32 + 1;
            }
        });
        for (y, row) in data.chunks(width).enumerate() {
            assert!(row.iter().all(|&v| v == y as u32 + 1));
        }
    }
}
