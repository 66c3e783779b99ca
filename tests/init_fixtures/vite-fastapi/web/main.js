const response = await fetch("/api/hello");
document.querySelector("#greeting").textContent = (await response.json()).greeting;
