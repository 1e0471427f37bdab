//! Who plays in each league: clubs named after real cities of the league's countries, or
//! players with plausible names. Some names carry accents, so the pipeline sees UTF-8.

use std::collections::HashSet;

use anyhow::{bail, Context, Result};
use rand::seq::IndexedRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::sports::{League, Participants, Sport};

/// A club or a player, with the country it plays at home in.
pub struct Entrant {
    pub name: String,
    pub country: &'static str,
}

/// Draws the clubs or players of one league; their names are distinct ignoring case, as the
/// model requires of an event's two participants.
pub fn roster(rng: &mut ChaCha8Rng, sport: &Sport, league: &League) -> Result<Vec<Entrant>> {
    let size = match sport.participants {
        Participants::Clubs(_) => rng.random_range(12..=20),
        Participants::Players => rng.random_range(48..=64),
    };
    let mut seen = HashSet::new();
    let mut entrants = Vec::with_capacity(size);
    // Bounded, because a small name pool may not hold `size` distinct names.
    for attempt in 0..size * 10 {
        let country = league.countries[attempt % league.countries.len()];
        let name = match sport.participants {
            Participants::Clubs(nicknames) => club(rng, country, nicknames)?,
            Participants::Players => player(rng)?,
        };
        if seen.insert(name.to_lowercase()) {
            entrants.push(Entrant { name, country });
            if entrants.len() == size {
                break;
            }
        }
    }
    if entrants.len() < 2 {
        bail!(
            "league {} has fewer than two distinct entrants",
            league.name
        );
    }
    Ok(entrants)
}

fn club(rng: &mut ChaCha8Rng, country: &str, nicknames: &[&str]) -> Result<String> {
    let city = cities(country)
        .choose(rng)
        .with_context(|| format!("no cities for country {country}"))?;
    let nickname = nicknames.choose(rng).context("a sport without nicknames")?;
    Ok(format!("{city} {nickname}"))
}

fn player(rng: &mut ChaCha8Rng) -> Result<String> {
    let first = FIRST_NAMES.choose(rng).context("no first names")?;
    let last = SURNAMES.choose(rng).context("no surnames")?;
    Ok(format!("{first} {last}"))
}

fn cities(country: &str) -> &'static [&'static str] {
    CITIES
        .iter()
        .find(|(code, _)| *code == country)
        .map_or(&[], |(_, cities)| cities)
}

#[rustfmt::skip]
const CITIES: &[(&str, &[&str])] = &[
    ("GB", &["London", "Manchester", "Liverpool", "Leeds", "Birmingham", "Newcastle", "Bristol", "Sheffield"]),
    ("ES", &["Madrid", "Barcelona", "Valencia", "Sevilla", "Bilbao", "Málaga", "Zaragoza", "A Coruña"]),
    ("IT", &["Milano", "Roma", "Torino", "Napoli", "Firenze", "Bologna", "Genova", "Verona"]),
    ("DE", &["Berlin", "München", "Hamburg", "Köln", "Dortmund", "Frankfurt", "Stuttgart", "Leipzig"]),
    ("FR", &["Paris", "Marseille", "Lyon", "Lille", "Nantes", "Bordeaux", "Nice", "Rennes"]),
    ("GR", &["Athens", "Thessaloniki", "Piraeus", "Patras", "Heraklion", "Larissa", "Volos", "Ioannina"]),
    ("NL", &["Amsterdam", "Rotterdam", "Eindhoven", "Utrecht", "Groningen", "Enschede", "Alkmaar", "Arnhem"]),
    ("PT", &["Lisboa", "Porto", "Braga", "Guimarães", "Coimbra", "Faro", "Setúbal", "Funchal"]),
    ("TR", &["Istanbul", "Ankara", "İzmir", "Bursa", "Antalya", "Trabzon", "Konya", "Kayseri"]),
    ("US", &["Boston", "Chicago", "Denver", "Seattle", "Dallas", "Miami", "Atlanta", "Phoenix", "Detroit", "Portland"]),
    ("CA", &["Toronto", "Montréal", "Vancouver", "Calgary", "Edmonton", "Ottawa", "Winnipeg", "Halifax"]),
    ("SE", &["Stockholm", "Göteborg", "Malmö", "Uppsala", "Luleå", "Växjö", "Linköping", "Örebro"]),
    ("FI", &["Helsinki", "Tampere", "Turku", "Oulu", "Espoo", "Lahti", "Kuopio", "Jyväskylä"]),
    ("JP", &["Tokyo", "Osaka", "Yokohama", "Nagoya", "Fukuoka", "Sapporo", "Hiroshima", "Sendai"]),
    ("KR", &["Seoul", "Busan", "Incheon", "Daegu", "Gwangju", "Suwon", "Daejeon", "Changwon"]),
    ("PL", &["Warszawa", "Kraków", "Gdańsk", "Wrocław", "Poznań", "Łódź", "Lublin", "Rzeszów"]),
    ("DK", &["København", "Aarhus", "Odense", "Aalborg", "Esbjerg", "Kolding", "Herning", "Randers"]),
    ("HU", &["Budapest", "Veszprém", "Szeged", "Debrecen", "Győr", "Pécs", "Tatabánya", "Miskolc"]),
    ("IN", &["Mumbai", "Chennai", "Kolkata", "Delhi", "Bengaluru", "Hyderabad", "Jaipur", "Lucknow"]),
    ("AU", &["Sydney", "Melbourne", "Brisbane", "Perth", "Adelaide", "Hobart", "Canberra", "Darwin"]),
];

const FIRST_NAMES: &[&str] = &[
    "Alex",
    "Andrea",
    "Carlos",
    "Daniil",
    "Elena",
    "Emma",
    "Felix",
    "Hana",
    "Ivan",
    "Jannik",
    "Jessica",
    "Karolína",
    "Kei",
    "Lorenzo",
    "Maria",
    "Mateo",
    "Naomi",
    "Nikos",
    "Ons",
    "Paula",
    "Rafael",
    "Sofia",
    "Stefanos",
    "Taylor",
    "Tomás",
    "Wang",
    "Yui",
    "Zoe",
];

const SURNAMES: &[&str] = &[
    "Alcaraz",
    "Andreescu",
    "Bencic",
    "Berrettini",
    "Dimitrov",
    "Fernández",
    "Fritz",
    "García",
    "Hurkacz",
    "Jabeur",
    "Kasatkina",
    "Khachanov",
    "Kostyuk",
    "Lehečka",
    "Müller",
    "Musetti",
    "Navarro",
    "Nishikori",
    "Novak",
    "Ostapenko",
    "Papadopoulos",
    "Paul",
    "Rune",
    "Ruud",
    "Sakkari",
    "Schmidt",
    "Shelton",
    "Silva",
    "Sinner",
    "Svitolina",
    "Tanaka",
    "Tsitsipas",
    "Zhang",
    "Zverev",
];

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::super::sports::SPORTS;
    use super::*;

    #[test]
    fn every_club_league_country_has_cities() {
        for sport in SPORTS {
            if let Participants::Clubs(_) = sport.participants {
                for league in sport.leagues {
                    for code in league.countries {
                        assert!(!cities(code).is_empty(), "{}: {code}", league.name);
                    }
                }
            }
        }
    }

    #[test]
    fn rosters_hold_names_distinct_ignoring_case() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for sport in SPORTS {
            for league in sport.leagues {
                let names: Vec<String> = roster(&mut rng, sport, league)
                    .expect("roster")
                    .iter()
                    .map(|e| e.name.to_lowercase())
                    .collect();
                let distinct: HashSet<&String> = names.iter().collect();
                assert!(names.len() >= 12, "{}", league.name);
                assert_eq!(distinct.len(), names.len(), "{}", league.name);
            }
        }
    }
}
