import StatusWidget from "./StatusWidget.jsx";

export default function App() {
  return (
    <main>
      <h1 id="title">LifeBit</h1>
      <StatusWidget />
    </main>
  );
}
