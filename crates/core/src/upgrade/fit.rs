//! Whether an upgrade image fits a node: the flavor, variant, architecture and Kubernetes
//! distribution its reference names, against what the node's agent reports. A Kairos image
//! reference says all four (`quay.io/kairos/ubuntu:24.04-standard-amd64-generic-v3.6.0-k3sv1.33.1-k3s1`);
//! what a reference does not say is not judged. Pure: no I/O.

use kairos_api::v1alpha1::KairosInfo;

/// Flavors Kairos builds, as they appear in image repositories and `KAIROS_FLAVOR`.
const FLAVORS: &[&str] = &[
    "almalinux",
    "alpine",
    "debian",
    "fedora",
    "hadron",
    "opensuse",
    "rockylinux",
    "ubuntu",
];

/// Kubernetes distributions Kairos images carry, as they appear in tags and
/// `KAIROS_SOFTWARE_VERSION_PREFIX`.
const DISTROS: &[&str] = &["k0s", "k3s"];

/// The system an image installs or a node runs, as far as it is known.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct System {
    /// `ubuntu`, `alpine`, ...
    pub flavor: Option<String>,
    /// `core` or `standard`.
    pub variant: Option<String>,
    /// `amd64` or `arm64`.
    pub arch: Option<String>,
    /// The Kubernetes distribution (`k3s`, `k0s`), `Some("none")` for none.
    pub kubernetes: Option<String>,
}

impl System {
    /// What an image reference says: the flavor from its repository's name, the rest from
    /// the tag's dash-separated fields.
    pub fn of_image(image: &str) -> Self {
        let without_digest = image.split('@').next().unwrap_or_default();
        let last = without_digest.rsplit('/').next().unwrap_or_default();
        let (name, tag) = last.split_once(':').unwrap_or((last, ""));
        let fields: Vec<&str> = tag.split('-').collect();
        let variant = fields
            .iter()
            .find(|f| matches!(**f, "core" | "standard"))
            .map(|f| (*f).to_owned());
        let arch = fields.iter().find_map(|f| arch(f)).map(str::to_owned);
        let kubernetes = fields
            .iter()
            .find_map(|f| DISTROS.iter().find(|d| f.starts_with(**d)))
            .map(|d| (*d).to_owned())
            .or_else(|| (variant.as_deref() == Some("core")).then(|| "none".to_owned()));
        Self {
            flavor: flavor(name),
            variant,
            arch,
            kubernetes,
        }
    }

    /// What a node's agent reports (the flavor from its image repository when it reports
    /// none).
    pub fn of_node(kairos: &KairosInfo) -> Self {
        let known = |s: &Option<String>| {
            s.as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_ascii_lowercase)
        };
        let variant = known(&kairos.variant);
        let kubernetes = match known(&kairos.software_version_prefix) {
            Some(prefix) => Some(prefix),
            None if known(&kairos.software_version).is_none() && variant.is_some() => {
                Some("none".to_owned())
            }
            None => None,
        };
        Self {
            flavor: known(&kairos.flavor)
                .map(|f| flavor(&f).unwrap_or(f))
                .or_else(|| System::of_image(kairos.image_repo.as_deref()?).flavor),
            variant,
            arch: known(&kairos.arch).map(|a| arch(&a).unwrap_or(&a).to_owned()),
            kubernetes,
        }
    }
}

/// The known flavor a name carries as one of its `-`/`_`-separated words (`kairos-ubuntu`).
fn flavor(name: &str) -> Option<String> {
    let name = name.to_ascii_lowercase();
    name.split(['-', '_'])
        .find(|w| FLAVORS.contains(w))
        .map(str::to_owned)
}

/// The architecture a tag field or report names, under its Go name.
fn arch(field: &str) -> Option<&'static str> {
    match field {
        "amd64" | "x86_64" => Some("amd64"),
        "arm64" | "aarch64" => Some("arm64"),
        _ => None,
    }
}

/// How `image` differs from what the node runs, one entry per field both sides name
/// (`flavor: image alpine, node ubuntu`); empty when it fits. An image from the repository
/// the node itself was installed from (`KAIROS_IMAGE_REPO`) is of the node's flavor.
///
/// # Guarantees
/// Never judges a field either side leaves unknown. Never panics.
pub fn misfits(image: &str, kairos: &KairosInfo) -> Vec<String> {
    let mut target = System::of_image(image);
    let node = System::of_node(kairos);
    let repo = image.split('@').next().unwrap_or_default();
    let repo = repo
        .rsplit_once(':')
        .map_or(repo, |(r, tag)| if tag.contains('/') { repo } else { r });
    if kairos.image_repo.as_deref().map(str::trim) == Some(repo) {
        target.flavor.clone_from(&node.flavor);
    }
    let fields = [
        ("flavor", &target.flavor, &node.flavor),
        ("variant", &target.variant, &node.variant),
        ("architecture", &target.arch, &node.arch),
        (
            "Kubernetes distribution",
            &target.kubernetes,
            &node.kubernetes,
        ),
    ];
    fields
        .into_iter()
        .filter_map(|(what, image, node)| match (image, node) {
            (Some(i), Some(n)) if i != n => Some(format!("{what}: image {i}, node {n}")),
            _ => None,
        })
        .collect()
}

/// Whether a trusted-boot (UKI) image and a node disagree, naming both: `image_trusted_boot`
/// is what the upgrade declares (`trustedBoot`), `node_trusted_boot` what the node's agent
/// reports (`status.trustedBoot`). A UKI image cannot upgrade a node that boots GRUB (it holds
/// no root filesystem), and a Kairos image cannot upgrade a trusted-boot node (its EFI files
/// must be built and signed with the user's keys). `allowSystemChange` does not lift this:
/// neither upgrade can work.
///
/// # Guarantees
/// A node that has not reported whether it boots trusted is not judged here (the trusted-boot
/// Job's preflight checks the node itself). Never panics.
pub fn boot_misfit(
    node: &str,
    image: &str,
    image_trusted_boot: bool,
    node_trusted_boot: Option<bool>,
) -> Option<String> {
    match (image_trusted_boot, node_trusted_boot?) {
        (true, false) => Some(format!(
            "image {image} is declared a trusted-boot (UKI) image (trustedBoot: true) but node \
             {node} does not boot trusted: a UKI image cannot upgrade it"
        )),
        (false, true) => Some(format!(
            "node {node} boots trusted (UKI) but image {image} is not declared a trusted-boot \
             image: only a UKI container image signed with the node's keys (auroraboot build-uki \
             -t container) can upgrade it; set trustedBoot: true if the image is one"
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
