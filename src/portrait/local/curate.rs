//! Chooses the usable photos of a training set: each photo on its own (large enough, sharp
//! enough, one clear subject), then against the set (the same subject as the set's most
//! typical photo, no near-duplicates). Every rejection keeps its reason for the task's error.

use super::features::{Features, subject_distance};

#[derive(Debug, Clone, Copy)]
pub struct Rules {
    pub min_side: u32,
    pub min_sharpness: f64,
    pub duplicate_distance: u32,
    pub max_subject_distance: f64,
    pub min_usable: usize,
}

/// Below this share of the frame the segmentation found no subject.
const MIN_SUBJECT_SHARE: f64 = 0.03;
/// Above it the "subject" is the whole frame: nothing stands out.
const MAX_SUBJECT_SHARE: f64 = 0.97;
/// The largest region must hold this share of the subject for one clear subject.
const MIN_MAIN_REGION: f64 = 0.75;

/// A photo as measured: its size, or why it could not be read.
#[derive(Debug, Clone)]
pub enum Measured {
    Photo {
        width: u32,
        height: u32,
        features: Features,
    },
    Unreadable(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    pub index: usize,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Selection {
    /// Indexes of the usable photos, best first.
    pub kept: Vec<usize>,
    pub rejected: Vec<Rejection>,
}

fn judge_alone(measured: &Measured, rules: &Rules) -> Result<(), String> {
    let (width, height, f) = match measured {
        Measured::Unreadable(why) => return Err(format!("cannot be decoded ({why})")),
        Measured::Photo {
            width,
            height,
            features,
        } => (*width, *height, features),
    };
    if width.min(height) < rules.min_side {
        return Err(format!(
            "too small ({width}x{height}; the short side needs at least {} px)",
            rules.min_side
        ));
    }
    if f.subject_share < MIN_SUBJECT_SHARE {
        return Err("no person found (the segmentation found no subject)".to_owned());
    }
    if f.subject_share > MAX_SUBJECT_SHARE {
        return Err("no clear subject (nothing stands out from the background)".to_owned());
    }
    if f.main_region_share < MIN_MAIN_REGION {
        return Err(format!(
            "no single clear subject ({:.0}% of the subject in its largest region)",
            f.main_region_share * 100.0
        ));
    }
    if f.sharpness < rules.min_sharpness {
        return Err(format!(
            "too blurred (sharpness {:.1}, needs {:.1})",
            f.sharpness, rules.min_sharpness
        ));
    }
    Ok(())
}

pub fn select(photos: &[Measured], rules: &Rules) -> Selection {
    let mut rejected = Vec::new();
    let mut alone = Vec::new();
    for (index, photo) in photos.iter().enumerate() {
        match (judge_alone(photo, rules), photo) {
            (Ok(()), Measured::Photo { features, .. }) => alone.push((index, features)),
            (Err(reason), _) => rejected.push(Rejection { index, reason }),
            (Ok(()), Measured::Unreadable(_)) => {}
        }
    }

    // Each photo's median distance to the others: with a set of mostly one person, that
    // person's photos are close to most of the set whatever the odd ones show.
    let mut same_subject = Vec::new();
    for (index, f) in &alone {
        let mut distances: Vec<f64> = alone
            .iter()
            .filter(|(other, _)| other != index)
            .map(|(_, g)| subject_distance(f, g))
            .collect();
        distances.sort_by(f64::total_cmp);
        let d = distances.get(distances.len() / 2).copied().unwrap_or(0.0);
        if d > rules.max_subject_distance {
            rejected.push(Rejection {
                index: *index,
                reason: format!(
                    "not the same person as the rest of the set (subject distance {d:.2} to \
                     the other photos, at most {:.2})",
                    rules.max_subject_distance
                ),
            });
        } else {
            same_subject.push((*index, *f));
        }
    }

    // Best first, so a near-duplicate drops the worse of the two.
    let quality = |f: &Features| f.sharpness.ln_1p() * f.subject_share.sqrt();
    same_subject.sort_by(|a, b| quality(b.1).total_cmp(&quality(a.1)).then(a.0.cmp(&b.0)));
    let mut kept: Vec<(usize, &Features)> = Vec::new();
    for (index, f) in same_subject {
        match kept
            .iter()
            .find(|(_, k)| (k.dhash ^ f.dhash).count_ones() <= rules.duplicate_distance)
        {
            Some((twin, _)) => rejected.push(Rejection {
                index,
                reason: format!("near-duplicate of photo {}", twin + 1),
            }),
            None => kept.push((index, f)),
        }
    }
    rejected.sort_by_key(|r| r.index);
    Selection {
        kept: kept.into_iter().map(|(i, _)| i).collect(),
        rejected,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn photo(chroma: Vec<f64>, dhash: u64, sharpness: f64) -> Measured {
        Measured::Photo {
            width: 512,
            height: 512,
            features: Features {
                sharpness,
                subject_share: 0.3,
                main_region_share: 0.95,
                chroma,
                silhouette: vec![0.5; 4],
                dhash,
            },
        }
    }

    const RULES: Rules = Rules {
        min_side: 256,
        min_sharpness: 15.0,
        duplicate_distance: 3,
        max_subject_distance: 0.27,
        min_usable: 2,
    };

    #[test]
    fn odd_subjects_duplicates_blur_and_unreadable_photos_are_each_rejected_with_a_reason() {
        let person = vec![0.5, 0.5, 0.0, 0.0];
        let other = vec![0.0, 0.0, 0.5, 0.5];
        let photos = vec![
            photo(person.clone(), 0x0F, 100.0),
            photo(person.clone(), 0xF0F0, 90.0),
            photo(other, 0xFFFF_0000, 100.0),
            photo(person.clone(), 0x0E, 50.0),
            photo(person.clone(), 0xFF00_0000_0000, 2.0),
            Measured::Unreadable("not an image".into()),
        ];
        let selection = select(&photos, &RULES);
        assert_eq!(selection.kept, vec![0, 1]);
        let reasons: Vec<_> = selection
            .rejected
            .iter()
            .map(|r| (r.index, r.reason.split(' ').next().unwrap().to_owned()))
            .collect();
        assert_eq!(
            reasons,
            vec![
                (2, "not".to_owned()),
                (3, "near-duplicate".to_owned()),
                (4, "too".to_owned()),
                (5, "cannot".to_owned()),
            ]
        );
        assert!(selection.rejected[1].reason.ends_with("photo 1"));
    }
}
