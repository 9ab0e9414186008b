//! The operations imgforge offers (SPEC §1), as the engine and configuration name them.

use std::fmt;

/// Every operation of SPEC §1; configuration keys and error messages use [`Operation::name`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Operation {
    RemoveBackground,
    ChangeBackground,
    ChangeClothes,
    Expand,
    Fix,
    RemoveWatermark,
    Resize,
    ConvertToPng,
    CreateCharacter,
    GenerateCover,
    CoverOptions,
    UploadReferenceImage,
    PortraitUpload,
    PortraitCreateUserModel,
    PortraitListStyles,
    PortraitCreateTask,
    PortraitQueryTask,
}

impl Operation {
    pub const ALL: [Operation; 17] = [
        Operation::RemoveBackground,
        Operation::ChangeBackground,
        Operation::ChangeClothes,
        Operation::Expand,
        Operation::Fix,
        Operation::RemoveWatermark,
        Operation::Resize,
        Operation::ConvertToPng,
        Operation::CreateCharacter,
        Operation::GenerateCover,
        Operation::CoverOptions,
        Operation::UploadReferenceImage,
        Operation::PortraitUpload,
        Operation::PortraitCreateUserModel,
        Operation::PortraitListStyles,
        Operation::PortraitCreateTask,
        Operation::PortraitQueryTask,
    ];

    /// Snake-case name used as the configuration key of the operation's provider chain.
    pub fn name(self) -> &'static str {
        match self {
            Operation::RemoveBackground => "remove_background",
            Operation::ChangeBackground => "change_background",
            Operation::ChangeClothes => "change_clothes",
            Operation::Expand => "expand",
            Operation::Fix => "fix",
            Operation::RemoveWatermark => "remove_watermark",
            Operation::Resize => "resize",
            Operation::ConvertToPng => "convert_to_png",
            Operation::CreateCharacter => "create_character",
            Operation::GenerateCover => "generate_cover",
            Operation::CoverOptions => "cover_options",
            Operation::UploadReferenceImage => "upload_reference_image",
            Operation::PortraitUpload => "portrait_upload",
            Operation::PortraitCreateUserModel => "portrait_create_user_model",
            Operation::PortraitListStyles => "portrait_list_styles",
            Operation::PortraitCreateTask => "portrait_create_task",
            Operation::PortraitQueryTask => "portrait_query_task",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Operation::ALL.into_iter().find(|op| op.name() == name)
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for op in Operation::ALL {
            assert_eq!(Operation::from_name(op.name()), Some(op));
        }
    }
}
