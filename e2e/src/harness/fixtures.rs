//! Realistic release files of simulated nodes: `/etc/kairos-release` and os-release for Kairos
//! Ubuntu, Alpine and openSUSE flavours (standard or core, k3s or k0s), an older Kairos with only
//! os-release, and a plain Debian node; plus kernel command lines per boot mode. Pure: no I/O.

/// Which distribution a node runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// Kairos on Ubuntu 24.04.
    Ubuntu,
    /// Kairos on Alpine 3.21.
    Alpine,
    /// Kairos on openSUSE Leap 15.6.
    OpenSuse,
    /// A plain Debian 12 host (not Kairos: no kairos-release).
    Debian,
    /// An older Kairos (Ubuntu 22.04) with its fields in os-release and no kairos-release.
    LegacyKairos,
}

/// Kairos variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// No Kubernetes distribution.
    Core,
    /// With a Kubernetes distribution.
    Standard,
}

/// Kubernetes distribution of a standard image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Distribution {
    /// k3s.
    K3s,
    /// k0s.
    K0s,
}

/// How the node booted (what `/proc/cmdline` and `/run/cos/*_mode` say).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootMode {
    /// The active image (`COS_ACTIVE`).
    Active,
    /// The fallback image (`COS_PASSIVE`).
    Passive,
    /// The recovery system (`COS_RECOVERY`).
    Recovery,
    /// A live medium (`live:CDLABEL`).
    LiveCd,
    /// The passive system after the boot assessment gave up on an upgraded active system: on
    /// GRUB the passive entry with `upgrade_failure` on its command line (and kairos-init's
    /// `/run/cos/upgrade_failure`), on trusted boot systemd-boot's passive entry after the
    /// active entry's tries ran out.
    FallbackPassive,
}

/// The release files a simulated node carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseFixture {
    /// Distribution flavour.
    pub flavor: Flavor,
    /// Core or standard.
    pub variant: Variant,
    /// k3s or k0s (standard only).
    pub distribution: Distribution,
    /// `KAIROS_VERSION` (e.g. `v3.5.0`).
    pub version: String,
    /// Kubernetes version without prefix (e.g. `1.33.1`).
    pub k8s_version: String,
    /// A trusted-boot (UKI) install: `KAIROS_TRUSTED_BOOT="true"`, every boot entry with the
    /// same UKI command line, immucore's `uki_boot_mode` sentinel.
    pub trusted_boot: bool,
}

impl ReleaseFixture {
    fn new(flavor: Flavor, variant: Variant, distribution: Distribution, version: &str) -> Self {
        Self {
            flavor,
            variant,
            distribution,
            version: version.into(),
            k8s_version: "1.33.1".into(),
            trusted_boot: false,
        }
    }

    /// The same fixture installed with trusted boot (UKI).
    pub fn trusted(&self) -> Self {
        Self {
            trusted_boot: true,
            ..self.clone()
        }
    }

    /// The image an upgrade to this fixture installs from: [`Self::image`], or for trusted
    /// boot the UKI container image the user built from it and signed with the nodes' keys
    /// (`auroraboot build-uki -t container`: EFI files, no shell, no `kairos-agent`).
    pub fn upgrade_image(&self) -> String {
        if self.trusted_boot {
            format!("registry.local/edge/kairos-uki:{}", self.image_label())
        } else {
            self.image()
        }
    }

    /// Kairos standard Ubuntu 24.04 with k3s.
    pub fn ubuntu_k3s(version: &str) -> Self {
        Self::new(
            Flavor::Ubuntu,
            Variant::Standard,
            Distribution::K3s,
            version,
        )
    }

    /// Kairos standard Ubuntu 24.04 with k0s.
    pub fn ubuntu_k0s(version: &str) -> Self {
        Self::new(
            Flavor::Ubuntu,
            Variant::Standard,
            Distribution::K0s,
            version,
        )
    }

    /// Kairos core Ubuntu 24.04 (no Kubernetes distribution).
    pub fn ubuntu_core(version: &str) -> Self {
        Self::new(Flavor::Ubuntu, Variant::Core, Distribution::K3s, version)
    }

    /// Kairos standard Alpine 3.21 with k3s.
    pub fn alpine_k3s(version: &str) -> Self {
        Self::new(
            Flavor::Alpine,
            Variant::Standard,
            Distribution::K3s,
            version,
        )
    }

    /// Kairos core Alpine 3.21.
    pub fn alpine_core(version: &str) -> Self {
        Self::new(Flavor::Alpine, Variant::Core, Distribution::K3s, version)
    }

    /// Kairos standard openSUSE Leap 15.6 with k3s.
    pub fn opensuse_k3s(version: &str) -> Self {
        Self::new(
            Flavor::OpenSuse,
            Variant::Standard,
            Distribution::K3s,
            version,
        )
    }

    /// Kairos standard openSUSE Leap 15.6 with k0s.
    pub fn opensuse_k0s(version: &str) -> Self {
        Self::new(
            Flavor::OpenSuse,
            Variant::Standard,
            Distribution::K0s,
            version,
        )
    }

    /// An older Kairos whose only release file is os-release (`ID="kairos"`).
    pub fn legacy_kairos(version: &str) -> Self {
        Self::new(
            Flavor::LegacyKairos,
            Variant::Standard,
            Distribution::K3s,
            version,
        )
    }

    /// A plain Debian 12 node: not Kairos.
    pub fn plain_debian() -> Self {
        Self::new(Flavor::Debian, Variant::Core, Distribution::K3s, "")
    }

    /// The same fixture at another Kairos version (what an upgrade writes).
    pub fn with_version(&self, version: &str) -> Self {
        Self {
            version: version.into(),
            ..self.clone()
        }
    }

    /// Whether the node is a Kairos node.
    pub fn is_kairos(&self) -> bool {
        self.flavor != Flavor::Debian
    }

    fn flavor_parts(&self) -> (&'static str, &'static str, &'static str) {
        match self.flavor {
            Flavor::Ubuntu => ("ubuntu", "24.04", "ubuntu"),
            Flavor::Alpine => ("alpine", "3.21", "alpine"),
            Flavor::OpenSuse => ("opensuse", "leap-15.6", "opensuse"),
            Flavor::LegacyKairos => ("ubuntu", "22.04", "ubuntu"),
            Flavor::Debian => ("debian", "12", "debian"),
        }
    }

    /// `KAIROS_SOFTWARE_VERSION` (empty for core).
    pub fn software_version(&self) -> String {
        match (self.variant, self.distribution) {
            (Variant::Core, _) => String::new(),
            (_, Distribution::K3s) => format!("v{}+k3s1", self.k8s_version),
            (_, Distribution::K0s) => format!("v{}+k0s.0", self.k8s_version),
        }
    }

    /// `KAIROS_IMAGE_LABEL`.
    pub fn image_label(&self) -> String {
        let (_, rel, _) = self.flavor_parts();
        let variant = if self.variant == Variant::Core {
            "core"
        } else {
            "standard"
        };
        let mut l = format!("{rel}-{variant}-amd64-generic-{}", self.version);
        if self.variant == Variant::Standard {
            let (p, s) = match self.distribution {
                Distribution::K3s => ("k3s", format!("v{}-k3s1", self.k8s_version)),
                Distribution::K0s => ("k0s", format!("v{}-k0s.0", self.k8s_version)),
            };
            l.push_str(&format!("-{p}{s}"));
        }
        l
    }

    /// `quay.io/kairos/<flavor>:<label>`, the image this node runs.
    pub fn image(&self) -> String {
        let (f, _, _) = self.flavor_parts();
        format!("quay.io/kairos/{f}:{}", self.image_label())
    }

    /// Contents of `/etc/kairos-release`, or None for nodes without one.
    pub fn kairos_release(&self) -> Option<String> {
        if matches!(self.flavor, Flavor::Debian | Flavor::LegacyKairos) {
            return None;
        }
        Some(self.kairos_fields())
    }

    fn kairos_fields(&self) -> String {
        let (f, rel, family) = self.flavor_parts();
        let variant = if self.variant == Variant::Core {
            "core"
        } else {
            "standard"
        };
        let name = format!("kairos-{variant}-{f}-{rel}");
        let v = &self.version;
        let sw = self.software_version();
        let prefix = match (self.variant, self.distribution) {
            (Variant::Core, _) => "",
            (_, Distribution::K3s) => "k3s",
            (_, Distribution::K0s) => "k0s",
        };
        format!(
            "# Kairos release information, written by kairos-init\n\
             KAIROS_ARCH=\"amd64\"\nKAIROS_BUG_REPORT_URL=\"https://github.com/kairos-io/kairos/issues\"\n\
             KAIROS_FAMILY=\"{family}\"\nKAIROS_FIPS=\"false\"\nKAIROS_FLAVOR=\"{f}\"\n\
             KAIROS_FLAVOR_RELEASE=\"{rel}\"\nKAIROS_HOME_URL=\"https://github.com/kairos-io/kairos\"\n\
             KAIROS_ID=\"kairos\"\nKAIROS_ID_LIKE=\"{name}\"\nKAIROS_IMAGE_LABEL=\"{label}\"\n\
             KAIROS_IMAGE_REPO=\"quay.io/kairos/{f}\"\nKAIROS_INIT_VERSION=\"v0.5.0\"\nKAIROS_MODEL=\"generic\"\n\
             KAIROS_NAME=\"{name}\"\nKAIROS_PRETTY_NAME=\"{name} {v}\"\nKAIROS_REGISTRY_AND_ORG=\"quay.io/kairos\"\n\
             KAIROS_RELEASE=\"{v}\"\nKAIROS_SOFTWARE_VERSION=\"{sw}\"\nKAIROS_SOFTWARE_VERSION_PREFIX=\"{prefix}\"\n\
             KAIROS_TARGETARCH=\"amd64\"\nKAIROS_TRUSTED_BOOT=\"{trusted}\"\nKAIROS_VARIANT=\"{variant}\"\n\
             KAIROS_VERSION=\"{v}\"\nKAIROS_VERSION_ID=\"{v}\"\n",
            label = self.image_label(),
            trusted = self.trusted_boot
        )
    }

    /// Contents of `/usr/lib/os-release` (what `/etc/os-release` links to).
    pub fn os_release(&self) -> String {
        match self.flavor {
            Flavor::Ubuntu => "PRETTY_NAME=\"Ubuntu 24.04.2 LTS\"\nNAME=\"Ubuntu\"\nVERSION_ID=\"24.04\"\n\
                VERSION=\"24.04.2 LTS (Noble Numbat)\"\nVERSION_CODENAME=noble\nID=ubuntu\nID_LIKE=debian\n\
                HOME_URL=\"https://www.ubuntu.com/\"\nSUPPORT_URL=\"https://help.ubuntu.com/\"\n\
                BUG_REPORT_URL=\"https://bugs.launchpad.net/ubuntu/\"\nUBUNTU_CODENAME=noble\nLOGO=ubuntu-logo\n"
                .into(),
            Flavor::Alpine => "NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.21.3\nPRETTY_NAME=\"Alpine Linux v3.21\"\n\
                HOME_URL=\"https://alpinelinux.org/\"\nBUG_REPORT_URL=\"https://gitlab.alpinelinux.org/alpine/aports/-/issues\"\n"
                .into(),
            Flavor::OpenSuse => "NAME=\"openSUSE Leap\"\nVERSION=\"15.6\"\nID=\"opensuse-leap\"\nID_LIKE=\"suse opensuse\"\n\
                VERSION_ID=\"15.6\"\nPRETTY_NAME=\"openSUSE Leap 15.6\"\nANSI_COLOR=\"0;32\"\n\
                CPE_NAME=\"cpe:/o:opensuse:leap:15.6\"\nBUG_REPORT_URL=\"https://bugs.opensuse.org\"\n\
                HOME_URL=\"https://www.opensuse.org/\"\nDOCUMENTATION_URL=\"https://en.opensuse.org/Portal:Leap\"\n\
                LOGO=\"distributor-logo-Leap\"\n"
                .into(),
            Flavor::Debian => "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\n\
                VERSION_ID=\"12\"\nVERSION=\"12 (bookworm)\"\nVERSION_CODENAME=bookworm\nID=debian\n\
                HOME_URL=\"https://www.debian.org/\"\nSUPPORT_URL=\"https://www.debian.org/support\"\n\
                BUG_REPORT_URL=\"https://bugs.debian.org/\"\n"
                .into(),
            Flavor::LegacyKairos => format!(
                "NAME=\"kairos-ubuntu-22.04\"\nID=\"kairos\"\nID_LIKE=\"kairos-standard-ubuntu-22.04\"\n\
                 VERSION=\"{v}\"\nVERSION_ID=\"{v}\"\nPRETTY_NAME=\"kairos-ubuntu-22.04 {v}\"\n\
                 HOME_URL=\"https://github.com/kairos-io/kairos\"\n{fields}",
                v = self.version,
                fields = self.kairos_fields().lines().filter(|l| !l.starts_with('#')).map(|l| format!("{l}\n")).collect::<String>()
            ),
        }
    }

    /// The kubelet version a Node of this fixture reports.
    pub fn kubelet_version(&self) -> String {
        match self.distribution {
            Distribution::K3s => format!("v{}+k3s1", self.k8s_version),
            Distribution::K0s => format!("v{}+k0s", self.k8s_version),
        }
    }
}

/// `/proc/cmdline` of a node booted in `mode` (plain Debian: a distribution kernel line).
pub fn cmdline(release: &ReleaseFixture, mode: BootMode) -> String {
    if !release.is_kairos() {
        return "BOOT_IMAGE=/boot/vmlinuz-6.1.0-28-amd64 root=UUID=3b4c0a4e-5a0c-4bde-9d8c-2f0b7c7e6c1d ro quiet\n".into();
    }
    if release.trusted_boot {
        // Every UKI entry (active.efi, passive.efi, recovery.efi) has the same command line.
        return "console=ttyS0 console=tty1 net.ifnames=1 rd.immucore.oemlabel=COS_OEM rd.immucore.oemtimeout=2 rd.immucore.uki selinux=0 panic=5 rd.shell=0 systemd.crash_reboot=yes\n".into();
    }
    let common = "console=tty1 console=ttyS0 panic=5 net.ifnames=1 rd.neednet=0 rd.cos.oemlabel=COS_OEM rd.cos.oemtimeout=10 rd.immucore.sysrootwait=600";
    match mode {
        BootMode::Active => format!("BOOT_IMAGE=/cOS/active.img root=LABEL=COS_ACTIVE cos-img/filename=/cOS/active.img {common}\n"),
        BootMode::Passive => format!("BOOT_IMAGE=/cOS/passive.img root=LABEL=COS_PASSIVE cos-img/filename=/cOS/passive.img {common}\n"),
        BootMode::FallbackPassive => format!("BOOT_IMAGE=/cOS/passive.img root=LABEL=COS_PASSIVE cos-img/filename=/cOS/passive.img {common} upgrade_failure\n"),
        BootMode::Recovery => format!("BOOT_IMAGE=/cOS/recovery.img root=LABEL=COS_RECOVERY cos-img/filename=/cOS/recovery.img {common}\n"),
        BootMode::LiveCd => "BOOT_IMAGE=/boot/kernel console=tty1 root=live:CDLABEL=COS_LIVE rd.live.dir=/ rd.live.squashimg=rootfs.squashfs rd.cos.disable\n".into(),
    }
}

/// The files immucore (and kairos-init) write in `/run/cos` for a boot of `release` in `mode`.
pub fn sentinels(release: &ReleaseFixture, mode: BootMode) -> Vec<&'static str> {
    let mut files = vec![mode_marker(mode)];
    if release.trusted_boot {
        files.push("uki_boot_mode");
    } else if mode == BootMode::FallbackPassive {
        files.push("upgrade_failure");
    }
    files
}

/// The `/run/cos/<mode>_mode` marker file name, if any.
pub fn mode_marker(mode: BootMode) -> &'static str {
    match mode {
        BootMode::Active => "active_mode",
        BootMode::Passive | BootMode::FallbackPassive => "passive_mode",
        BootMode::Recovery => "recovery_mode",
        BootMode::LiveCd => "live_mode",
    }
}
