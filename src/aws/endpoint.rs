//! Which host serves EC2 and STS in a region, as the AWS SDKs' endpoint
//! rules build it: the region's partition (commercial, China, GovCloud,
//! ISO, ISO-B, ISO-E, ISO-F, European Sovereign Cloud) gives the DNS suffix,
//! and the FIPS and dual-stack settings (`AWS_USE_FIPS_ENDPOINT`,
//! `AWS_USE_DUALSTACK_ENDPOINT`, or the profile's `use_fips_endpoint`,
//! `use_dualstack_endpoint`) the variant. A region in no partition, or a
//! variant asked for with an endpoint URL, is an error that says what to do.

use std::fmt;

use crate::aws::profile::Profile;
use crate::aws::Env;
use crate::types::Region;

/// A partition of the SDKs' `partitions.json`: which regions are in it and
/// the DNS suffixes of its endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Partition {
    pub id: &'static str,
    /// A region is `HEAD-NAME-N`, HEAD one of these (the partition's
    /// `regionRegex`, e.g. `^us\-gov\-\w+\-\d+$`).
    heads: &'static [&'static str],
    pub dns_suffix: &'static str,
    pub dual_stack_dns_suffix: &'static str,
}

/// Every partition, as the SDKs' endpoint rules (partitions.json 1.1) list
/// them; all of them support FIPS and dual-stack endpoints.
pub const PARTITIONS: [Partition; 8] = [
    Partition {
        id: "aws",
        heads: &["us", "eu", "ap", "sa", "ca", "me", "af", "il", "mx"],
        dns_suffix: "amazonaws.com",
        dual_stack_dns_suffix: "api.aws",
    },
    Partition {
        id: "aws-cn",
        heads: &["cn"],
        dns_suffix: "amazonaws.com.cn",
        dual_stack_dns_suffix: "api.amazonwebservices.com.cn",
    },
    Partition {
        id: "aws-us-gov",
        heads: &["us-gov"],
        dns_suffix: "amazonaws.com",
        dual_stack_dns_suffix: "api.aws",
    },
    Partition {
        id: "aws-iso",
        heads: &["us-iso"],
        dns_suffix: "c2s.ic.gov",
        dual_stack_dns_suffix: "api.aws.ic.gov",
    },
    Partition {
        id: "aws-iso-b",
        heads: &["us-isob"],
        dns_suffix: "sc2s.sgov.gov",
        dual_stack_dns_suffix: "api.aws.scloud",
    },
    Partition {
        id: "aws-iso-e",
        heads: &["eu-isoe"],
        dns_suffix: "cloud.adc-e.uk",
        dual_stack_dns_suffix: "api.cloud-aws.adc-e.uk",
    },
    Partition {
        id: "aws-iso-f",
        heads: &["us-isof"],
        dns_suffix: "csp.hci.ic.gov",
        dual_stack_dns_suffix: "api.aws.hci.ic.gov",
    },
    Partition {
        id: "aws-eusc",
        heads: &["eusc-de"],
        dns_suffix: "amazonaws.eu",
        dual_stack_dns_suffix: "api.amazonwebservices.eu",
    },
];

impl Partition {
    /// Whether `region` is `HEAD-NAME-N` for one of the heads, NAME a
    /// word (`\w+`) and N a number.
    fn holds(&self, region: &str) -> bool {
        self.heads.iter().any(|head| {
            let Some(rest) = region.strip_prefix(head).and_then(|r| r.strip_prefix('-')) else {
                return false;
            };
            let Some((name, number)) = rest.split_once('-') else {
                return false;
            };
            !name.is_empty()
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                && !number.is_empty()
                && number.bytes().all(|b| b.is_ascii_digit())
        })
    }
}

/// The partition `region` is in, if any.
pub fn partition(region: &Region) -> Option<&'static Partition> {
    PARTITIONS.iter().find(|p| p.holds(region.as_str()))
}

/// The endpoint variant asked for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Variant {
    pub fips: bool,
    pub dual_stack: bool,
    /// Where each was set, for messages: the variable or profile key.
    pub fips_from: Option<&'static str>,
    pub dual_stack_from: Option<&'static str>,
}

impl Variant {
    /// From `AWS_USE_FIPS_ENDPOINT` / `AWS_USE_DUALSTACK_ENDPOINT`, else the
    /// profile's `use_fips_endpoint` / `use_dualstack_endpoint`. `true` or
    /// `false` in any case; anything else is an error naming the setting.
    pub fn configured(env: &Env, profile: Option<&Profile>) -> Result<Variant, String> {
        let setting = |var: &'static str, key: &'static str| -> Result<_, String> {
            let (from, value) = match (env.get(var), profile.and_then(|p| p.get(key))) {
                (Some(v), _) => (var, v),
                (None, Some(v)) => (key, v),
                (None, None) => return Ok((false, None)),
            };
            match value.trim().to_ascii_lowercase().as_str() {
                "true" => Ok((true, Some(from))),
                "false" => Ok((false, None)),
                _ => Err(format!("{from} is '{value}'; it must be true or false")),
            }
        };
        let (fips, fips_from) = setting("AWS_USE_FIPS_ENDPOINT", "use_fips_endpoint")?;
        let (dual_stack, dual_stack_from) =
            setting("AWS_USE_DUALSTACK_ENDPOINT", "use_dualstack_endpoint")?;
        Ok(Variant {
            fips,
            dual_stack,
            fips_from,
            dual_stack_from,
        })
    }

    /// The settings that ask for a variant, for a message.
    fn named(&self) -> String {
        let on: Vec<String> = [self.fips_from, self.dual_stack_from]
            .into_iter()
            .flatten()
            .map(|s| format!("{s}=true"))
            .collect();
        on.join(" and ")
    }
}

/// Why no endpoint could be chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointError(pub String);

impl fmt::Display for EndpointError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for EndpointError {}

/// The endpoint of `service` (`ec2`, `sts`): `given` (an endpoint URL, from
/// `given_from`) as it is, else the region's, in the variant asked for, as
/// the service's endpoint rules build it. Both EC2's and STS's rules are:
/// FIPS and dual-stack `https://SERVICE-fips.REGION.DUALSTACK_SUFFIX`;
/// FIPS `https://SERVICE-fips.REGION.SUFFIX` (GovCloud's standard
/// endpoints are FIPS already: `https://SERVICE.REGION.amazonaws.com`);
/// dual-stack `https://SERVICE.REGION.DUALSTACK_SUFFIX`; else
/// `https://SERVICE.REGION.SUFFIX`.
pub fn resolve(
    service: &str,
    given: Option<(&str, String)>,
    region: &Region,
    variant: &Variant,
) -> Result<String, EndpointError> {
    if let Some((from, url)) = given {
        if variant.fips || variant.dual_stack {
            // The SDKs' rules refuse this too ("FIPS and custom endpoint are
            // not supported"): the URL names one host, whichever variant.
            return Err(EndpointError(format!(
                "{from} and {} cannot go together: an endpoint URL is used as it is, so give \
                 the {} endpoint's URL there and unset the other",
                variant.named(),
                if variant.fips { "FIPS" } else { "dual-stack" }
            )));
        }
        return Ok(url);
    }
    let Some(p) = partition(region) else {
        return Err(EndpointError(format!(
            "the region {region} is in no AWS partition vpc-router knows (commercial, China, \
             GovCloud, ISO, ISO-B, ISO-E, ISO-F, European Sovereign Cloud), so it cannot tell \
             the {} endpoint's host; give it with --endpoint-url (or AWS_ENDPOINT_URL_{})",
            service.to_ascii_uppercase(),
            service.to_ascii_uppercase()
        )));
    };
    Ok(match (variant.fips, variant.dual_stack) {
        (true, true) => format!(
            "https://{service}-fips.{region}.{}",
            p.dual_stack_dns_suffix
        ),
        (true, false) if p.id == "aws-us-gov" => {
            format!("https://{service}.{region}.amazonaws.com")
        }
        (true, false) => format!("https://{service}-fips.{region}.{}", p.dns_suffix),
        (false, true) => format!("https://{service}.{region}.{}", p.dual_stack_dns_suffix),
        (false, false) => format!("https://{service}.{region}.{}", p.dns_suffix),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn region(s: &str) -> Region {
        s.parse().unwrap()
    }

    #[test]
    fn regions_fall_in_their_partitions() {
        for (r, id) in [
            ("us-east-1", "aws"),
            ("ap-southeast-7", "aws"),
            ("mx-central-1", "aws"),
            ("il-central-1", "aws"),
            ("cn-northwest-1", "aws-cn"),
            ("us-gov-west-1", "aws-us-gov"),
            ("us-iso-east-1", "aws-iso"),
            ("us-isob-east-1", "aws-iso-b"),
            ("eu-isoe-west-1", "aws-iso-e"),
            ("us-isof-south-1", "aws-iso-f"),
            ("eusc-de-east-1", "aws-eusc"),
        ] {
            assert_eq!(partition(&region(r)).map(|p| p.id), Some(id), "{r}");
        }
        for r in [
            "xx-east-1",
            "eusc-fr-east-1",
            "usgov-west-1",
            "us-east-west-1",
        ] {
            assert_eq!(partition(&region(r)), None, "{r}");
        }
    }

    /// Expected hosts from the EC2 and STS endpoint rule sets (the SDKs'
    /// endpoint tests), per partition: default, FIPS, dual-stack, both.
    #[test]
    fn every_partition_and_variant() {
        let v = |fips, dual_stack| Variant {
            fips,
            dual_stack,
            ..Variant::default()
        };
        let cases = [
            (
                "us-east-1",
                "amazonaws.com",
                "api.aws",
                "ec2-fips.us-east-1.amazonaws.com",
            ),
            (
                "cn-north-1",
                "amazonaws.com.cn",
                "api.amazonwebservices.com.cn",
                "ec2-fips.cn-north-1.amazonaws.com.cn",
            ),
            (
                "us-gov-west-1",
                "amazonaws.com",
                "api.aws",
                "ec2.us-gov-west-1.amazonaws.com",
            ),
            (
                "us-iso-east-1",
                "c2s.ic.gov",
                "api.aws.ic.gov",
                "ec2-fips.us-iso-east-1.c2s.ic.gov",
            ),
            (
                "us-isob-east-1",
                "sc2s.sgov.gov",
                "api.aws.scloud",
                "ec2-fips.us-isob-east-1.sc2s.sgov.gov",
            ),
            (
                "eu-isoe-west-1",
                "cloud.adc-e.uk",
                "api.cloud-aws.adc-e.uk",
                "ec2-fips.eu-isoe-west-1.cloud.adc-e.uk",
            ),
            (
                "us-isof-south-1",
                "csp.hci.ic.gov",
                "api.aws.hci.ic.gov",
                "ec2-fips.us-isof-south-1.csp.hci.ic.gov",
            ),
            (
                "eusc-de-east-1",
                "amazonaws.eu",
                "api.amazonwebservices.eu",
                "ec2-fips.eusc-de-east-1.amazonaws.eu",
            ),
        ];
        for (r, dns, dual, fips) in cases {
            let e = |variant| resolve("ec2", None, &region(r), &variant).unwrap();
            assert_eq!(e(v(false, false)), format!("https://ec2.{r}.{dns}"));
            assert_eq!(e(v(true, false)), format!("https://{fips}"));
            assert_eq!(e(v(false, true)), format!("https://ec2.{r}.{dual}"));
            assert_eq!(e(v(true, true)), format!("https://ec2-fips.{r}.{dual}"));
            let sts = resolve("sts", None, &region(r), &v(true, false)).unwrap();
            assert_eq!(sts, format!("https://{}", fips.replacen("ec2", "sts", 1)));
        }
    }

    #[test]
    fn what_cannot_be_resolved_says_what_to_do() {
        let e = resolve("ec2", None, &region("xx-east-1"), &Variant::default()).unwrap_err();
        assert!(
            e.0.contains("the region xx-east-1 is in no AWS partition"),
            "{e}"
        );
        assert!(
            e.0.contains("--endpoint-url (or AWS_ENDPOINT_URL_EC2)"),
            "{e}"
        );
        let fips = Variant {
            fips: true,
            fips_from: Some("AWS_USE_FIPS_ENDPOINT"),
            ..Variant::default()
        };
        let given = Some(("--endpoint-url", "http://127.0.0.1:1".to_string()));
        let e = resolve("ec2", given.clone(), &region("us-east-1"), &fips).unwrap_err();
        assert_eq!(
            e.0,
            "--endpoint-url and AWS_USE_FIPS_ENDPOINT=true cannot go together: an endpoint URL \
             is used as it is, so give the FIPS endpoint's URL there and unset the other"
        );
        // Without a variant the URL is used as it is, in any region.
        let url = resolve("ec2", given, &region("xx-east-1"), &Variant::default()).unwrap();
        assert_eq!(url, "http://127.0.0.1:1");
    }

    #[test]
    fn the_variant_comes_from_the_environment_then_the_profile() {
        let dir = std::env::temp_dir().join(format!("vpc-router-endpoint-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let config = dir.join("config");
        std::fs::write(
            &config,
            "[default]\nuse_fips_endpoint = TRUE\nuse_dualstack_endpoint = true\n",
        )
        .unwrap();
        let files = Env::from_pairs([
            ("HOME", "/nonexistent-vpc-router"),
            ("AWS_CONFIG_FILE", config.to_str().unwrap()),
        ]);
        let profile = crate::aws::profile::load(&files, None).unwrap().unwrap();
        let env = Env::from_pairs([("AWS_USE_DUALSTACK_ENDPOINT", "false")]);
        let v = Variant::configured(&env, Some(&profile)).unwrap();
        assert_eq!((v.fips, v.dual_stack), (true, false));
        assert_eq!(v.fips_from, Some("use_fips_endpoint"));
        let v = Variant::configured(&Env::default(), None).unwrap();
        assert_eq!(v, Variant::default());
        let env = Env::from_pairs([("AWS_USE_FIPS_ENDPOINT", "yes")]);
        assert_eq!(
            Variant::configured(&env, None).unwrap_err(),
            "AWS_USE_FIPS_ENDPOINT is 'yes'; it must be true or false"
        );
    }
}
