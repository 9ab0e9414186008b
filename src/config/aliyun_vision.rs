use std::fmt;

use serde::{Deserialize, Serialize};

use crate::config::Secret;

/// `[providers.aliyun_vision]`: Alibaba Cloud Vision Intelligence (viapi) `imageseg`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AliyunVisionSettings {
    /// `https://imageseg.cn-shanghai.aliyuncs.com` (cn-shanghai is the only region).
    pub endpoint: String,
    /// `RegionId` of signature v1 requests.
    pub region_id: String,
    /// API version of `imageseg`.
    pub version: String,
    /// A RAM user's AccessKey (policy `AliyunVIAPIFullAccess`).
    pub access_key_id: String,
    pub access_key_secret: Secret,
    /// STS token, when the AccessKey is temporary.
    pub security_token: Option<Secret>,
    /// Request signing: `v3` (ACS3-HMAC-SHA256, default) or `v1` (RPC HMAC-SHA1,
    /// `SignatureVersion=1.0`).
    pub signature: SignatureVersion,
    /// Which segmentation the provider runs.
    pub action: SegmentAction,
    /// Deadline of one HTTP call to the endpoint.
    pub request_timeout_secs: u64,
    /// First wait between polls of an async job; doubles up to `poll_max_ms`.
    pub poll_initial_ms: u64,
    pub poll_max_ms: u64,
    /// How long an async job may run before it is given up.
    pub job_timeout_secs: u64,
    /// Calls per second this process makes to the endpoint (0 = unpaced).
    pub qps: f64,
    /// Largest input of the sync actions, in bytes (viapi: 3 MB).
    pub max_input_bytes: u64,
    /// Longest side of an input of the sync actions (viapi: below 2000 px).
    pub max_input_side: u32,
    /// What happens to an input over those limits: `downscale` (default) or `refuse`.
    pub oversize: Oversize,
}

impl Default for AliyunVisionSettings {
    fn default() -> Self {
        AliyunVisionSettings {
            endpoint: "https://imageseg.cn-shanghai.aliyuncs.com".to_owned(),
            region_id: "cn-shanghai".to_owned(),
            version: "2019-12-30".to_owned(),
            access_key_id: String::new(),
            access_key_secret: Secret::default(),
            security_token: None,
            signature: SignatureVersion::V3,
            action: SegmentAction::SegmentCommonImage,
            request_timeout_secs: 30,
            poll_initial_ms: 1000,
            poll_max_ms: 5000,
            job_timeout_secs: 300,
            qps: 2.0,
            max_input_bytes: 3 * 1024 * 1024,
            max_input_side: 1999,
            oversize: Oversize::Downscale,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SignatureVersion {
    /// `Authorization: ACS3-HMAC-SHA256 ...`, parameters in a form body.
    V3,
    /// The older RPC signature: HMAC-SHA1 over the sorted query, `Signature` parameter.
    V1,
}

/// The `imageseg` actions that remove a background.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SegmentAction {
    /// The visual-centre object, synchronous.
    SegmentCommonImage,
    /// Human bodies, synchronous.
    SegmentBody,
    /// The visual-centre object at high resolution, asynchronous (`GetAsyncJobResult`).
    #[serde(rename = "SegmentHDCommonImage")]
    SegmentHdCommonImage,
}

impl SegmentAction {
    pub fn name(self) -> &'static str {
        match self {
            SegmentAction::SegmentCommonImage => "SegmentCommonImage",
            SegmentAction::SegmentBody => "SegmentBody",
            SegmentAction::SegmentHdCommonImage => "SegmentHDCommonImage",
        }
    }

    pub fn is_async(self) -> bool {
        match self {
            SegmentAction::SegmentCommonImage | SegmentAction::SegmentBody => false,
            SegmentAction::SegmentHdCommonImage => true,
        }
    }

    /// The name of the image parameter (the HD action spells it differently).
    pub fn image_param(self) -> &'static str {
        match self {
            SegmentAction::SegmentCommonImage | SegmentAction::SegmentBody => "ImageURL",
            SegmentAction::SegmentHdCommonImage => "ImageUrl",
        }
    }
}

impl fmt::Display for SegmentAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Oversize {
    /// Fit the input within the limits before sending it.
    Downscale,
    /// Refuse the request (`InvalidArgument` on `image`).
    Refuse,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_setting_from_toml() {
        let settings: AliyunVisionSettings = toml::from_str(
            r#"
            endpoint = "http://127.0.0.1:9"
            access_key_id = "id"
            access_key_secret = "secret"
            security_token = "token"
            signature = "v1"
            action = "SegmentHDCommonImage"
            qps = 0.5
            oversize = "refuse"
            "#,
        )
        .unwrap();
        assert_eq!(settings.signature, SignatureVersion::V1);
        assert_eq!(settings.action, SegmentAction::SegmentHdCommonImage);
        assert_eq!(settings.oversize, Oversize::Refuse);
        assert_eq!(settings.security_token, Some(Secret::new("token")));
        assert_eq!(settings.version, "2019-12-30");
        let printed = toml::to_string(&settings).unwrap();
        assert!(
            !printed.contains("secret\"") && !printed.contains("token\""),
            "{printed}"
        );
    }

    #[test]
    fn rejects_unknown_keys_and_actions() {
        assert!(toml::from_str::<AliyunVisionSettings>("acces_key_id = \"x\"").is_err());
        assert!(toml::from_str::<AliyunVisionSettings>("action = \"SegmentHair\"").is_err());
    }
}
