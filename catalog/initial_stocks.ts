// The catalog a fresh DATA_DIR starts with (README "Architecture"): Gaulish companies, 100 shares each, at
// fixed prices. Changing this list changes only new deployments; an existing catalog.csv wins.

export type InitialStock = { readonly name: string; readonly price: number };

/** Every stock starts with this many shares. */
export const initialQuantity = 100;

export const initialStocks: readonly InitialStock[] = [
  { name: "GameStart", price: 15.99 },
  { name: "FishCo", price: 7.5 },
  { name: "BoarCo", price: 22.25 },
  { name: "MenhirCo", price: 48.0 },
  { name: "PotionCo", price: 99.95 },
  { name: "DruidCo", price: 63.1 },
  { name: "MistletoeCo", price: 4.2 },
  { name: "BardCo", price: 1.75 },
  { name: "ChariotCo", price: 31.4 },
  { name: "ShieldCo", price: 12.6 },
  { name: "HelmetCo", price: 9.99 },
  { name: "SickleCo", price: 18.05 },
];
