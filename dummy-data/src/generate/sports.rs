//! The sports, leagues and match lengths events are drawn from.
//!
//! Real names in mixed case, because the api groups sports case-insensitively and the
//! recommender reports them back: data that looks like production exercises both.

use std::ops::RangeInclusive;

pub struct Sport {
    pub name: &'static str,
    /// Relative share of all events: football dwarfs table tennis, as at a real bookmaker.
    pub weight: u32,
    /// From the start to the final whistle, breaks included.
    pub minutes: RangeInclusive<i64>,
    pub participants: Participants,
    pub leagues: &'static [League],
}

/// Who plays: clubs named after a city, or individual players.
pub enum Participants {
    /// Club nicknames, appended to a city of the club's country.
    Clubs(&'static [&'static str]),
    Players,
}

pub struct League {
    pub name: &'static str,
    /// Where its matches are played; clubs come from these countries.
    pub countries: &'static [&'static str],
}

const fn league(name: &'static str, countries: &'static [&'static str]) -> League {
    League { name, countries }
}

const EUROPE: &[&str] = &["GB", "ES", "IT", "DE", "FR", "PT", "NL", "GR", "TR"];
const TOUR: &[&str] = &["US", "GB", "FR", "ES", "AU", "IT", "DE", "JP"];

pub const SPORTS: &[Sport] = &[
    Sport {
        name: "Football",
        weight: 32,
        minutes: 110..=120,
        participants: Participants::Clubs(&[
            "FC",
            "United",
            "City",
            "Athletic",
            "Rovers",
            "Wanderers",
            "Sporting",
            "Albion",
        ]),
        leagues: &[
            league("Premier League", &["GB"]),
            league("La Liga", &["ES"]),
            league("Serie A", &["IT"]),
            league("Bundesliga", &["DE"]),
            league("Ligue 1", &["FR"]),
            league("Super League", &["GR"]),
            league("Eredivisie", &["NL"]),
            league("Primeira Liga", &["PT"]),
            league("UEFA Champions League", EUROPE),
        ],
    },
    Sport {
        name: "Basketball",
        weight: 15,
        minutes: 130..=160,
        participants: Participants::Clubs(&[
            "Hawks", "Kings", "Titans", "Bulls", "Knights", "Lions", "Stars", "Warriors",
        ]),
        leagues: &[
            league("NBA", &["US", "CA"]),
            league("EuroLeague", &["ES", "GR", "TR", "IT", "DE", "FR"]),
            league("Basket League", &["GR"]),
            league("Liga ACB", &["ES"]),
        ],
    },
    Sport {
        name: "Tennis",
        weight: 13,
        minutes: 70..=240,
        participants: Participants::Players,
        leagues: &[
            league("ATP Tour", TOUR),
            league("WTA Tour", TOUR),
            league("ATP Challenger Tour", &["IT", "ES", "PT", "FR", "DE"]),
        ],
    },
    Sport {
        name: "Ice Hockey",
        weight: 8,
        minutes: 150..=180,
        participants: Participants::Clubs(&[
            "Bears", "Wolves", "Flyers", "Blades", "Sharks", "Storm", "Penguins",
        ]),
        leagues: &[
            league("NHL", &["US", "CA"]),
            league("SHL", &["SE"]),
            league("Liiga", &["FI"]),
            league("DEL", &["DE"]),
        ],
    },
    Sport {
        name: "Baseball",
        weight: 7,
        minutes: 160..=210,
        participants: Participants::Clubs(&[
            "Tigers", "Giants", "Pirates", "Mariners", "Eagles", "Dragons", "Swallows",
        ]),
        leagues: &[
            league("MLB", &["US", "CA"]),
            league("NPB", &["JP"]),
            league("KBO League", &["KR"]),
        ],
    },
    Sport {
        name: "American Football",
        weight: 6,
        minutes: 190..=215,
        participants: Participants::Clubs(&[
            "Chargers", "Bison", "Mustangs", "Falcons", "Spartans", "Thunder", "Rams",
        ]),
        leagues: &[league("NFL", &["US"]), league("College Football", &["US"])],
    },
    Sport {
        name: "Volleyball",
        weight: 5,
        minutes: 80..=150,
        participants: Participants::Clubs(&["Volley", "VC", "Spikers", "Blockers", "Power"]),
        leagues: &[
            league("SuperLega", &["IT"]),
            league("PlusLiga", &["PL"]),
            league("Volley League", &["GR"]),
        ],
    },
    Sport {
        name: "Handball",
        weight: 5,
        minutes: 90..=100,
        participants: Participants::Clubs(&["HC", "Handball", "Vikings", "Foxes", "Lions"]),
        leagues: &[
            league("Handball-Bundesliga", &["DE"]),
            league(
                "EHF Champions League",
                &["DE", "FR", "ES", "DK", "HU", "PL"],
            ),
            league("Liga ASOBAL", &["ES"]),
        ],
    },
    Sport {
        name: "Cricket",
        weight: 5,
        minutes: 150..=230,
        participants: Participants::Clubs(&[
            "Strikers",
            "Riders",
            "Super Kings",
            "Royals",
            "Sixers",
            "Heat",
        ]),
        leagues: &[
            league("Indian Premier League", &["IN"]),
            league("Big Bash League", &["AU"]),
            league("The Hundred", &["GB"]),
        ],
    },
    Sport {
        name: "Table Tennis",
        weight: 4,
        minutes: 25..=60,
        participants: Participants::Players,
        leagues: &[
            league("WTT Contender", &["JP", "KR", "DE", "FR", "PL"]),
            league("TT Elite Series", &["PL"]),
            league("Czech Liga Pro", &["CZ"]),
        ],
    },
];

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use slipstream_model::Country;

    use super::*;

    #[test]
    fn sport_names_are_distinct_even_ignoring_case() {
        let keys: HashSet<String> = SPORTS.iter().map(|s| s.name.to_lowercase()).collect();
        assert_eq!(keys.len(), SPORTS.len());
    }

    #[test]
    fn every_sport_has_leagues_in_valid_countries_and_a_positive_length() {
        for sport in SPORTS {
            assert!(!sport.leagues.is_empty(), "{}", sport.name);
            assert!(*sport.minutes.start() > 0, "{}", sport.name);
            for league in sport.leagues {
                assert!(!league.countries.is_empty(), "{}", league.name);
                for code in league.countries {
                    assert!(Country::parse(code).is_ok(), "{}: {code}", league.name);
                }
            }
        }
    }
}
